package com.kosmosx.metering;

import com.kosmosx.contracts.TopicAdmin;
import com.kosmosx.contracts.Topics;
import com.kosmosx.metering.core.UsageTopology;
import com.kosmosx.metering.health.StreamsHealthCheck;
import com.kosmosx.runtime.KafkaSettings;
import io.dropwizard.configuration.EnvironmentVariableSubstitutor;
import io.dropwizard.configuration.SubstitutingSourceProvider;
import io.dropwizard.core.Application;
import io.dropwizard.core.setup.Bootstrap;
import io.dropwizard.core.setup.Environment;
import io.dropwizard.lifecycle.Managed;
import java.time.Duration;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;

/** Kafka Streams metering in a Dropwizard shell (admin port for health and metrics). */
public class MeteringApplication extends Application<MeteringConfiguration> {

  public static void main(String[] args) throws Exception {
    new MeteringApplication().run(args);
  }

  @Override
  public String getName() {
    return "kosmos-metering";
  }

  @Override
  public void initialize(Bootstrap<MeteringConfiguration> bootstrap) {
    com.kosmosx.runtime.LogFormat.install(bootstrap);
    bootstrap.setConfigurationSourceProvider(
        new SubstitutingSourceProvider(
            bootstrap.getConfigurationSourceProvider(), new EnvironmentVariableSubstitutor(false)));
  }

  @Override
  public void run(MeteringConfiguration config, Environment env) throws Exception {
    try (Admin admin =
        Admin.create(KafkaSettings.admin(config.kafkaBootstrap, config.applicationId + "-admin"))) {
      TopicAdmin.ensureTopics(
          admin, Topics.all(), config.topicPartitions, config.replicationFactor);
    }
    KafkaStreams streams =
        new KafkaStreams(
            UsageTopology.build(
                Duration.ofMillis(config.dedupeRetention.toMilliseconds()), config.prices),
            streamsProperties(config));
    // A processing error replaces the stream thread instead of silently stopping metering.
    streams.setUncaughtExceptionHandler(
        e -> StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.REPLACE_THREAD);
    env.lifecycle()
        .manage(
            new Managed() {
              @Override
              public void start() {
                streams.start();
              }

              @Override
              public void stop() {
                // Leave the group: otherwise the next start waits for this member's session to
                // time out before it gets partitions, and a close during that wait blocks too.
                streams.close(
                    CloseOptions.timeout(Duration.ofSeconds(20))
                        .withGroupMembershipOperation(
                            CloseOptions.GroupMembershipOperation.LEAVE_GROUP));
              }
            });
    env.healthChecks().register("streams", new StreamsHealthCheck(streams));
    MeteringMetrics.register(streams);
    env.admin()
        .addServlet("prometheus", com.kosmosx.runtime.Metrics.servlet())
        .addMapping("/metrics");
  }

  /** The Streams settings the service runs with (the benchmark uses them too). */
  public static Properties streamsProperties(MeteringConfiguration config) {
    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, config.applicationId);
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, config.kafkaBootstrap);
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    p.put(StreamsConfig.STATE_DIR_CONFIG, config.stateDir);
    p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, (int) config.commitInterval.toMilliseconds());
    p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, (int) config.replicationFactor);
    // Rollups are cumulative totals: the cache folds a key's updates until the commit, which
    // then writes one changelog and one output record per dirty rollup (UsageTopology.Rollups).
    p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, config.rollupCacheBytes);
    // A crashed instance must not hold its partitions (and block the next join) for the default
    // 45 s: evict silent members after 10 s.
    p.put(StreamsConfig.consumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG), 10_000);
    p.put(StreamsConfig.consumerPrefix(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG), 3_000);
    // Seven small records are written per usage event (dedup, three rollups with their
    // changelogs): larger batches, lz4 and bigger polls took throughput from ~5,000 to ~8,000
    // events/s on the 2-core machine (MeteringBenchmark).
    p.put(StreamsConfig.producerPrefix(ProducerConfig.COMPRESSION_TYPE_CONFIG), "lz4");
    p.put(StreamsConfig.producerPrefix(ProducerConfig.BATCH_SIZE_CONFIG), 262_144);
    p.put(StreamsConfig.consumerPrefix(ConsumerConfig.MAX_POLL_RECORDS_CONFIG), 2_000);
    // An idle stream thread wakes once a second, not ten times: records still end a poll at once.
    p.put(StreamsConfig.POLL_MS_CONFIG, 1_000L);
    return p;
  }
}
