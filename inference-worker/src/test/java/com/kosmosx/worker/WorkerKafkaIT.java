package com.kosmosx.worker;

import static org.assertj.core.api.Assertions.assertThat;

import com.kosmosx.contracts.JobEvent;
import com.kosmosx.contracts.JobInput;
import com.kosmosx.contracts.JobRequest;
import com.kosmosx.contracts.JobType;
import com.kosmosx.contracts.Topics;
import com.kosmosx.contracts.UsageEvent;
import com.kosmosx.platform.SharedPlatform;
import io.dropwizard.testing.ConfigOverride;
import io.dropwizard.testing.DropwizardTestSupport;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The worker application on the real embedded broker with the real tiny model. */
class WorkerKafkaIT {
  private static DropwizardTestSupport<WorkerConfiguration> worker;

  @BeforeAll
  static void start() throws Exception {
    worker =
        new DropwizardTestSupport<>(
            WorkerApplication.class,
            "config.yml",
            ConfigOverride.config("server.adminConnectors[0].port", "0"),
            ConfigOverride.config("kafkaBootstrap", SharedPlatform.kafka().bootstrapServers()),
            ConfigOverride.config("model.path", "../model/tiny-kosmos"),
            ConfigOverride.config("workerId", "it-" + UUID.randomUUID().toString().substring(0, 8)),
            ConfigOverride.config("logging.level", "WARN"));
    worker.before();
  }

  @AfterAll
  static void stop() {
    worker.after();
  }

  @Test
  void aTextJobSucceedsOnceWithUsageInOneTransaction() throws Exception {
    String id = "job_" + UUID.randomUUID();
    submit(
        id,
        Topics.JOBS_SHARED.serializeValue(
            new JobRequest(
                id,
                "acc_it",
                JobType.TEXT,
                "shared",
                JobInput.text("Once upon a time", 12),
                Instant.now(),
                Instant.now().plusSeconds(600))));

    List<JobEvent> events =
        await(Topics.JOB_EVENTS.name(), id, 2, Topics.JOB_EVENTS::deserializeValue);
    assertThat(events)
        .extracting(JobEvent::kind)
        .containsExactly(JobEvent.Kind.STARTED, JobEvent.Kind.SUCCEEDED);
    JobEvent done = events.get(1);
    assertThat(done.output().text()).isNotEmpty();
    // Counted by the model's tokenizer, as Hugging Face's processor made the prompt (<s> excluded).
    com.fasterxml.jackson.databind.JsonNode golden = null;
    for (var c :
        new com.fasterxml.jackson.databind.ObjectMapper()
            .readTree(java.nio.file.Path.of("../model/tiny-kosmos/golden.json").toFile())
            .path("prompts")) {
      if (c.path("text").asText().equals("Once upon a time")) {
        golden = c;
      }
    }
    assertThat(golden).isNotNull();
    assertThat(done.usage().inputTokens()).isEqualTo(golden.path("prompt_ids").size() - 1);
    assertThat(done.usage().outputTokens()).isBetween(1, 12);

    List<UsageEvent> usage =
        await(Topics.USAGE.name(), "acc_it", 1, Topics.USAGE::deserializeValue);
    assertThat(usage).hasSize(1);
    assertThat(usage.get(0).eventId()).isEqualTo(id);
    assertThat(usage.get(0).outputTokens()).isEqualTo(done.usage().outputTokens());
  }

  @Test
  void jobsWaitingTogetherRunAsABatchAndEachEndsOnItsOwn() throws Exception {
    String account = "acc_batch_" + UUID.randomUUID();
    List<String> ids = new ArrayList<>();
    Properties p = new Properties();
    p.put("bootstrap.servers", SharedPlatform.kafka().bootstrapServers());
    p.put("linger.ms", "50");
    try (var producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer())) {
      for (int i = 0; i < 12; i++) {
        String id = "job_b" + i + "_" + UUID.randomUUID();
        ids.add(id);
        JobInput input =
            i == 5
                // An image that does not decode: that job fails alone, the batch goes on.
                ? new JobInput(
                    "An image of",
                    8,
                    null,
                    null,
                    null,
                    null,
                    new com.kosmosx.contracts.ImageInput("bm90IGFuIGltYWdl", 1, 1, "png", "x"),
                    true)
                : JobInput.text("Once upon a time", 2 + i);
        producer.send(
            new ProducerRecord<>(
                Topics.JOBS_SHARED.name(),
                id,
                Topics.JOBS_SHARED.serializeValue(
                    new JobRequest(
                        id,
                        account,
                        i == 5 ? JobType.IMAGE : JobType.TEXT,
                        "shared",
                        input,
                        Instant.now(),
                        Instant.now().plusSeconds(600)))));
      }
      producer.flush();
    }
    java.util.Map<String, List<JobEvent>> byJob = new java.util.HashMap<>();
    try (var c = reader(Topics.JOB_EVENTS.name())) {
      long end = System.nanoTime() + Duration.ofSeconds(60).toNanos();
      while (System.nanoTime() < end
          && byJob.values().stream().mapToInt(List::size).sum() < 2 * ids.size()) {
        for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(200))) {
          if (ids.contains(r.key())) {
            byJob
                .computeIfAbsent(r.key(), k -> new ArrayList<>())
                .add(Topics.JOB_EVENTS.deserializeValue(r.value()));
          }
        }
      }
    }
    assertThat(byJob).hasSize(ids.size());
    java.util.Set<Instant> starts = new java.util.HashSet<>();
    for (int i = 0; i < ids.size(); i++) {
      List<JobEvent> events = byJob.get(ids.get(i));
      assertThat(events).extracting(JobEvent::kind).first().isEqualTo(JobEvent.Kind.STARTED);
      assertThat(events).hasSize(2);
      starts.add(events.get(0).at());
      if (i == 5) {
        assertThat(events.get(1).error().code()).isEqualTo("invalid_image");
      } else {
        assertThat(events.get(1).kind()).isEqualTo(JobEvent.Kind.SUCCEEDED);
        assertThat(events.get(1).usage().outputTokens()).isBetween(1, 2 + i);
      }
    }
    // Jobs of one batch share its start: 12 jobs waiting together started in fewer batches.
    assertThat(starts.size()).isLessThan(ids.size());
    assertThat(await(Topics.USAGE.name(), account, 11, Topics.USAGE::deserializeValue)).hasSize(11);
  }

  @Test
  void anUndecodableJobGoesToTheDeadLetterTopicWithItsReason() throws Exception {
    String id = "job_poison_" + UUID.randomUUID();
    submit(id, "{not json".getBytes(StandardCharsets.UTF_8));
    ConsumerRecord<String, byte[]> dlq = awaitRecord(Topics.JOBS_DLQ.name(), id);
    assertThat(new String(dlq.value(), StandardCharsets.UTF_8)).isEqualTo("{not json");
    assertThat(
            new String(
                dlq.headers().lastHeader("kosmos.dlq.reason").value(), StandardCharsets.UTF_8))
        .contains("JobRequest");
  }

  @Test
  void aJobPastItsDeadlineFailsExpiredAndIsNotBilled() throws Exception {
    String id = "job_late_" + UUID.randomUUID();
    String account = "acc_late_" + UUID.randomUUID();
    submit(
        id,
        Topics.JOBS_SHARED.serializeValue(
            new JobRequest(
                id,
                account,
                JobType.TEXT,
                "shared",
                JobInput.text("hello", 5),
                Instant.now().minusSeconds(120),
                Instant.now().minusSeconds(60))));
    List<JobEvent> events =
        await(Topics.JOB_EVENTS.name(), id, 1, Topics.JOB_EVENTS::deserializeValue);
    assertThat(events.get(0).kind()).isEqualTo(JobEvent.Kind.FAILED);
    assertThat(events.get(0).error().code()).isEqualTo("expired");
    // A later job of the same account proves the worker moved on; no usage for the expired one.
    assertThat(await(Topics.USAGE.name(), account, 0, Topics.USAGE::deserializeValue)).isEmpty();
  }

  private static void submit(String id, byte[] value) throws Exception {
    Properties p = new Properties();
    p.put("bootstrap.servers", SharedPlatform.kafka().bootstrapServers());
    try (var producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer())) {
      producer.send(new ProducerRecord<>(Topics.JOBS_SHARED.name(), id, value)).get();
    }
  }

  private static KafkaConsumer<String, byte[]> reader(String topic) {
    Properties p = new Properties();
    p.put("bootstrap.servers", SharedPlatform.kafka().bootstrapServers());
    p.put("group.id", "it-" + UUID.randomUUID());
    p.put("auto.offset.reset", "earliest");
    p.put("isolation.level", "read_committed");
    var c = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer());
    c.subscribe(List.of(topic));
    return c;
  }

  /** Reads records with the key until {@code count} arrived, then 2 s more to catch duplicates. */
  private static <T> List<T> await(
      String topic, String key, int count, java.util.function.Function<byte[], T> read) {
    List<T> out = new ArrayList<>();
    try (var c = reader(topic)) {
      long end = System.nanoTime() + Duration.ofSeconds(60).toNanos();
      long settle = Long.MAX_VALUE;
      while (System.nanoTime() < Math.min(end, settle)) {
        for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(200))) {
          if (key.equals(r.key())) {
            out.add(read.apply(r.value()));
          }
        }
        if (out.size() >= count && settle == Long.MAX_VALUE) {
          settle = System.nanoTime() + Duration.ofSeconds(2).toNanos();
        }
      }
    }
    return out;
  }

  private static ConsumerRecord<String, byte[]> awaitRecord(String topic, String key) {
    try (var c = reader(topic)) {
      long end = System.nanoTime() + Duration.ofSeconds(60).toNanos();
      while (System.nanoTime() < end) {
        for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(200))) {
          if (key.equals(r.key())) {
            return r;
          }
        }
      }
    }
    throw new AssertionError("no record with key " + key + " on " + topic);
  }
}
