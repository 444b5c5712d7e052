package com.kosmosx.worker;

import ai.djl.Device;
import com.kosmosx.contracts.TopicAdmin;
import com.kosmosx.contracts.Topics;
import com.kosmosx.runtime.KafkaSettings;
import com.kosmosx.worker.core.CrashLedger;
import com.kosmosx.worker.core.Generator;
import com.kosmosx.worker.core.JobConsumer;
import com.kosmosx.worker.core.JobControls;
import com.kosmosx.worker.core.JobRunner;
import com.kosmosx.worker.core.PromptFormat;
import com.kosmosx.worker.core.StreamPublisher;
import com.kosmosx.worker.health.ModelHealthCheck;
import com.kosmosx.worker.model.DjlKosmosModel;
import com.kosmosx.worker.model.HfTokenizer;
import com.kosmosx.worker.model.ModelDirectory;
import com.kosmosx.worker.vision.ImagePreprocessor;
import io.dropwizard.configuration.EnvironmentVariableSubstitutor;
import io.dropwizard.configuration.SubstitutingSourceProvider;
import io.dropwizard.core.Application;
import io.dropwizard.core.setup.Bootstrap;
import io.dropwizard.core.setup.Environment;
import io.dropwizard.lifecycle.Managed;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The inference worker: a Dropwizard shell (admin port for health and metrics) around one Kafka
 * consumer loop per lane that runs the Kosmos model through DJL.
 */
public class WorkerApplication extends Application<WorkerConfiguration> {
  private static final org.slf4j.Logger LOG =
      org.slf4j.LoggerFactory.getLogger(WorkerApplication.class);

  public static void main(String[] args) throws Exception {
    new WorkerApplication().run(args);
  }

  @Override
  public String getName() {
    return "kosmos-worker";
  }

  @Override
  public void initialize(Bootstrap<WorkerConfiguration> bootstrap) {
    com.kosmosx.runtime.LogFormat.install(bootstrap);
    bootstrap.setConfigurationSourceProvider(
        new SubstitutingSourceProvider(
            bootstrap.getConfigurationSourceProvider(), new EnvironmentVariableSubstitutor(false)));
  }

  @Override
  public void run(WorkerConfiguration config, Environment env) throws Exception {
    // Never let DJL reach for the network (engine downloads, usage tracking).
    System.setProperty("ai.djl.offline", "true");
    System.setProperty("OPT_OUT_TRACKING", "true");
    Clock clock = Clock.systemUTC();

    ModelDirectory dir = ModelDirectory.open(Path.of(config.model.path));
    Device device =
        config.model.device.equals("cpu") ? Device.cpu() : Device.fromName(config.model.device);
    DjlKosmosModel model = new DjlKosmosModel(dir, device, config.model.prefillChunk);
    HfTokenizer tokenizer = new HfTokenizer(dir.tokenizer());
    env.lifecycle()
        .manage(
            new Managed() {
              @Override
              public void stop() {
                tokenizer.close();
                model.close();
              }
            });
    Duration timeLimit = Duration.ofMillis(config.jobTimeLimit.toMilliseconds());
    try {
      model.selfTest();
    } catch (IllegalStateException e) {
      throw new IllegalStateException(dir.root().toAbsolutePath() + ": " + e.getMessage(), e);
    }
    JobControls controls =
        new JobControls(
            () ->
                new KafkaConsumer<>(
                    KafkaSettings.committedReader(
                        config.kafkaBootstrap, null, config.workerId + "-controls", 500),
                    new StringDeserializer(),
                    new ByteArrayDeserializer()),
            clock);
    JobRunner runner =
        new JobRunner(
            new Generator(model, tokenizer, dir.config().bosTokenId(), dir.config().eosTokenId()),
            PromptFormat.of(dir.config()),
            new ImagePreprocessor(dir.config()),
            config.maxContextTokens,
            dir.config().maxContext(),
            timeLimit,
            clock,
            controls::canceled);

    // Warm up (JIT, libtorch kernels, allocator) so the first client's job is not the slow one.
    long warm = System.nanoTime();
    runner.run(
        new com.kosmosx.contracts.JobRequest(
            "job_warmup",
            "acc_warmup",
            com.kosmosx.contracts.JobType.TEXT,
            "shared",
            com.kosmosx.contracts.JobInput.text("Hello", 8),
            clock.instant(),
            null));
    LOG.info("model warmed up in {} ms", (System.nanoTime() - warm) / 1_000_000);

    String bootstrap = config.kafkaBootstrap;
    StreamPublisher deltas =
        new StreamPublisher(
            new KafkaProducer<>(
                new HashMap<>(
                    KafkaSettings.bestEffortProducer(bootstrap, config.workerId + "-stream")),
                new StringSerializer(),
                new ByteArraySerializer()),
            clock);
    env.lifecycle()
        .manage(
            new Managed() {
              @Override
              public void stop() {
                deltas.close();
              }
            });
    runner.streamingTo(deltas);
    try (Admin admin = Admin.create(KafkaSettings.admin(bootstrap, config.workerId + "-admin"))) {
      List<com.kosmosx.contracts.Topic<?, ?>> topics = new ArrayList<>(Topics.all());
      config.lanes.forEach(l -> topics.add(Topics.jobs(l)));
      TopicAdmin.ensureTopics(admin, topics, config.topicPartitions, config.replicationFactor);
    }
    env.lifecycle().manage(controls);
    env.healthChecks().register("loop.job-controls", controls.loop().healthCheck());
    com.kosmosx.worker.core.WorkerMetrics.registerGauges(config.batching.maxBatchTokens);
    env.admin()
        .addServlet("prometheus", com.kosmosx.runtime.Metrics.servlet())
        .addMapping("/metrics");

    JobConsumer.Batching batching =
        new JobConsumer.Batching(
            config.batching.maxBatchSize,
            Duration.ofMillis(config.batching.maxWait.toMilliseconds()),
            config.batching.maxBatchTokens);
    env.healthChecks()
        .register(
            "model",
            new ModelHealthCheck(
                dir.config(),
                device.toString(),
                batching.maxBatch(),
                batching.maxBatchTokens(),
                config.maxContextTokens));
    for (String lane : config.lanes) {
      JobConsumer consumer =
          new JobConsumer(
              lane,
              config.workerId,
              runner::run,
              clock,
              () ->
                  new KafkaConsumer<>(
                      new HashMap<>(
                          JobConsumer.consumerConfig(
                              bootstrap,
                              config.consumerGroup + "." + lane,
                              config.workerId + "-" + lane,
                              timeLimit,
                              batching.maxBatch())),
                      new StringDeserializer(),
                      new ByteArrayDeserializer()),
              txId ->
                  new KafkaProducer<>(
                      new HashMap<>(JobConsumer.producerConfig(bootstrap, txId)),
                      new StringSerializer(),
                      new ByteArraySerializer()),
              batching,
              controls,
              new CrashLedger(
                  Path.of(config.stateDir).resolve(config.workerId + "-" + lane + ".json")),
              config.maxAttempts,
              timeLimit);
      env.lifecycle().manage(consumer);
      // Unhealthy when the lane has failed for a minute, or one batch runs past the time limit.
      env.healthChecks().register("lane-" + lane, consumer.loop().healthCheck());
    }
  }
}
