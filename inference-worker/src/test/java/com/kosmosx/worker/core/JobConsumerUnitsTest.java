package com.kosmosx.worker.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.kosmosx.contracts.JobControl;
import com.kosmosx.contracts.JobEvent;
import com.kosmosx.contracts.JobInput;
import com.kosmosx.contracts.JobRequest;
import com.kosmosx.contracts.JobType;
import com.kosmosx.contracts.Topics;
import com.kosmosx.contracts.UsageEvent;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The parts of a lane, each alone, and the lane round with Kafka's mock clients. */
class JobConsumerUnitsTest {
  private static final String TOPIC = Topics.JOBS_SHARED.name();
  private static final TopicPartition P0 = new TopicPartition(TOPIC, 0);
  private static final Instant NOW = Instant.parse("2026-12-01T12:00:00Z");
  private static final Clock CLOCK = Clock.fixed(NOW, ZoneOffset.UTC);

  @TempDir Path dir;

  private static JobRequest job(String id, String prompt, int maxTokens, Instant deadline) {
    return new JobRequest(
        id, "acc_1", JobType.TEXT, "shared", JobInput.text(prompt, maxTokens), NOW, deadline);
  }

  private static ConsumerRecord<String, byte[]> record(long offset, JobRequest job) {
    return new ConsumerRecord<>(
        TOPIC, 0, offset, job.jobId(), Topics.JOBS_SHARED.serializeValue(job));
  }

  private static ConsumerRecord<String, byte[]> garbage(long offset, String key) {
    return new ConsumerRecord<>(TOPIC, 0, offset, key, "{oops".getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void offsetsCommitTheLowestStillOpenWhateverOrderJobsEndIn() {
    OffsetTracker t = new OffsetTracker();
    ConsumerRecord<String, byte[]> a = record(5, job("job_a", "x", 1, null));
    ConsumerRecord<String, byte[]> b = record(6, job("job_b", "x", 1, null));
    ConsumerRecord<String, byte[]> c = record(7, job("job_c", "x", 1, null));
    List.of(a, b, c).forEach(t::polled);
    assertThat(t.ended(b)).isEqualTo(Map.of(P0, new OffsetAndMetadata(5))); // a still open
    assertThat(t.ended(a)).isEqualTo(Map.of(P0, new OffsetAndMetadata(7))); // c still open
    assertThat(t.ended(c)).isEqualTo(Map.of(P0, new OffsetAndMetadata(8))); // all done
    t.polled(record(8, job("job_d", "x", 1, null)));
    t.forget(List.of(P0));
    assertThat(t.ended(record(8, job("job_d", "x", 1, null)))).as("revoked").isEmpty();
  }

  @Test
  void batchesFormInOrderWithinTheTokenBudgetAndKeepUnreadableRecordsInLine() {
    BatchAssembler b =
        new BatchAssembler(Topics.JOBS_SHARED, new JobConsumer.Batching(3, Duration.ZERO, 3 * 110));
    b.add(record(0, job("job_a", "x".repeat(8), 100, null))); // cost 109
    b.add(garbage(1, "job_bad"));
    b.add(record(2, job("job_b", "x".repeat(8), 100, null)));
    b.add(record(3, job("job_wide", "x".repeat(500), 100, null)));
    assertThat(b.full()).isTrue();
    List<BatchAssembler.Polled> first = b.take();
    assertThat(first).extracting(p -> p.record().offset()).containsExactly(0L, 1L, 2L);
    assertThat(first.get(1).job()).isNull();
    assertThat(first.get(1).error()).contains("JobRequest");
    assertThat(b.take()).extracting(p -> p.record().offset()).containsExactly(3L);
    assertThat(b.isEmpty()).isTrue();
    b.add(record(4, job("job_c", "x", 1, null)));
    b.forget(List.of(P0));
    assertThat(b.isEmpty()).as("a revoked partition's records are dropped").isTrue();
  }

  @Test
  void triageEndsWhatMustNotRunAndIsolatesSuspects() {
    CrashLedger ledger = new CrashLedger(dir.resolve("ledger.json"));
    JobControls controls = new JobControls(() -> null, CLOCK);
    controls.apply(new JobControl("job_canceled", "acc_1", JobControl.Action.CANCEL, NOW));
    ledger.begin(List.of("job_crashed_once"));
    ledger.end(); // ended without settling: it counts as a crash once the ledger is read again
    CrashLedger reread = new CrashLedger(dir.resolve("ledger.json"));
    Triage t = new Triage("w1", reread, controls, 1);
    BatchAssembler b = new BatchAssembler(Topics.JOBS_SHARED, JobConsumer.Batching.ONE_AT_A_TIME);
    b.add(garbage(0, "job_bad"));
    b.add(record(1, job("job_canceled", "x", 1, null)));
    b.add(record(2, job("job_late", "x", 1, NOW.minusSeconds(1))));
    b.add(record(3, job("job_fine", "x", 1, NOW.plusSeconds(60))));
    List<Triage.Decision> d = new ArrayList<>();
    while (!b.isEmpty()) {
      b.take().forEach(p -> d.add(t.decide(p, NOW)));
    }
    assertThat(d.get(0)).isInstanceOf(Triage.DeadLetter.class);
    assertThat(((Triage.End) d.get(1)).terminal().kind()).isEqualTo(JobEvent.Kind.CANCELED);
    assertThat(((Triage.End) d.get(2)).terminal().error().code()).isEqualTo("expired");
    assertThat(d.get(3)).isEqualTo(new Triage.Run(job("job_fine", "x", 1, NOW.plusSeconds(60))));
  }

  /** A consumer holding the given records on partition 0 from {@code from}. */
  private static MockConsumer<String, byte[]> consumer(
      List<ConsumerRecord<String, byte[]>> records, long from) {
    MockConsumer<String, byte[]> c = new MockConsumer<>("earliest");
    c.schedulePollTask(
        () -> {
          c.rebalance(List.of(P0));
          c.updateBeginningOffsets(Map.of(P0, 0L));
          c.seek(P0, from);
          records.stream().filter(r -> r.offset() >= from).forEach(c::addRecord);
        });
    return c;
  }

  private static MockProducer<String, byte[]> producer() {
    return new MockProducer<>(true, null, new StringSerializer(), new ByteArraySerializer());
  }

  private static List<String> topicsAndKinds(MockProducer<String, byte[]> p) {
    List<String> out = new ArrayList<>();
    for (ProducerRecord<String, byte[]> r : p.history()) {
      if (r.topic().equals(Topics.JOB_EVENTS.name())) {
        JobEvent e = Topics.JOB_EVENTS.deserializeValue(r.value());
        out.add(e.kind() + " " + e.jobId());
      } else if (r.topic().equals(Topics.USAGE.name())) {
        UsageEvent u = Topics.USAGE.deserializeValue(r.value());
        out.add("USAGE " + u.eventId());
      } else {
        out.add(r.topic() + " " + r.key());
      }
    }
    return out;
  }

  @Test
  void aRoundRunsTheBatchDeadLettersTheUnreadableAndCommitsOffsetsInTheTransaction()
      throws Exception {
    List<ConsumerRecord<String, byte[]>> records =
        List.of(
            record(0, job("job_a", "hi", 2, null)),
            garbage(1, "job_bad"),
            record(2, job("job_b", "hey", 2, null)));
    MockConsumer<String, byte[]> c = consumer(records, 0);
    MockProducer<String, byte[]> p = producer();
    JobConsumer.Runner runner =
        (jobs, done, step) -> {
          for (int i = 0; i < jobs.size(); i++) {
            done.accept(
                i,
                JobOutcome.succeeded(new JobEvent.Output("ok", null), new JobEvent.Usage(3, 2, 0)));
          }
          step.run();
        };
    JobConsumer lane = lane(c, p, runner);
    lane.round();
    assertThat(topicsAndKinds(p))
        .containsExactly(
            Topics.JOBS_DLQ.name() + " job_bad",
            "FAILED job_bad",
            "STARTED job_a",
            "STARTED job_b",
            "SUCCEEDED job_a",
            "USAGE job_a",
            "SUCCEEDED job_b",
            "USAGE job_b");
    List<Map<String, Map<TopicPartition, OffsetAndMetadata>>> commits =
        p.consumerGroupOffsetsHistory();
    assertThat(commits.get(commits.size() - 1).values().iterator().next())
        .isEqualTo(Map.of(P0, new OffsetAndMetadata(3)));
    assertThat(lane.jobsDone()).isEqualTo(2);
  }

  private static JobConsumer lane(
      MockConsumer<String, byte[]> c, MockProducer<String, byte[]> p, JobConsumer.Runner r) {
    return lane("shared", c, p, r);
  }

  private static JobConsumer lane(
      String name,
      MockConsumer<String, byte[]> c,
      MockProducer<String, byte[]> p,
      JobConsumer.Runner r) {
    return new JobConsumer(
        name,
        "w1",
        r,
        CLOCK,
        () -> c,
        id -> p,
        new JobConsumer.Batching(4, Duration.ZERO, 100_000),
        null,
        null,
        3,
        Duration.ofMinutes(5));
  }

  private static final JobConsumer.Runner QUICK =
      (jobs, done, step) -> {
        for (int i = 0; i < jobs.size(); i++) {
          done.accept(
              i,
              JobOutcome.succeeded(new JobEvent.Output("ok", null), new JobEvent.Usage(3, 1, 0)));
        }
        step.run();
      };

  @Test
  void aBatchThatEndsBeforeTheStartIsDueSharesOneTransactionWithItsStart() throws Exception {
    MockConsumer<String, byte[]> c =
        consumer(
            List.of(
                record(0, job("job_a", "hi", 1, null)), record(1, job("job_b", "hey", 1, null))),
            0);
    MockProducer<String, byte[]> p = producer();
    lane(c, p, QUICK).startedAfter(Duration.ofHours(1)).round();
    assertThat(topicsAndKinds(p))
        .containsExactly(
            "STARTED job_a",
            "STARTED job_b",
            "SUCCEEDED job_a",
            "USAGE job_a",
            "SUCCEEDED job_b",
            "USAGE job_b");
    assertThat(p.commitCount()).as("one transaction for the start and the ends").isEqualTo(1);
    assertThat(p.consumerGroupOffsetsHistory()).hasSize(1);
  }

  @Test
  void closingTheLaneStopsTheThreadThatTimesBatchStarts() throws Exception {
    MockConsumer<String, byte[]> c = consumer(List.of(record(0, job("job_a", "hi", 1, null))), 0);
    MockProducer<String, byte[]> p = producer();
    JobConsumer lane = lane("closing", c, p, QUICK);
    lane.round();
    List<Thread> timers = timerThreads("lane-closing-started");
    assertThat(timers).hasSize(1);
    lane.close();
    // The executor is terminated when close returns; its thread may still be leaving run().
    timers.get(0).join(java.util.concurrent.TimeUnit.MINUTES.toMillis(1));
    assertThat(timers.get(0).isAlive()).isFalse();
    assertThat(p.closed()).isTrue();
  }

  private static List<Thread> timerThreads(String name) {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.getName().equals(name) && t.isAlive())
        .toList();
  }

  @Test
  void aBatchStillRunningWhenTheStartIsDuePublishesItsStartAloneFirst() throws Exception {
    MockConsumer<String, byte[]> c = consumer(List.of(record(0, job("job_a", "hi", 1, null))), 0);
    MockProducer<String, byte[]> p = producer();
    JobConsumer.Runner slow =
        (jobs, done, step) -> {
          // The model "runs" until the timer has published the start (no sleep: it waits for it).
          long end = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(30);
          while (p.commitCount() == 0 && System.nanoTime() < end) {
            Thread.onSpinWait();
          }
          QUICK.run(jobs, done, step);
        };
    lane(c, p, slow).startedAfter(Duration.ZERO).round();
    assertThat(p.commitCount()).isEqualTo(2);
    assertThat(topicsAndKinds(p))
        .containsExactly("STARTED job_a", "SUCCEEDED job_a", "USAGE job_a");
    // Only the second transaction settles the offset: the start alone commits none.
    assertThat(p.consumerGroupOffsetsHistory()).hasSize(1);
  }

  @Test
  void aFailureThatIsNotKafkasDropsTheClientsAndTheNextRoundRunsTheJobAgain() throws Exception {
    List<ConsumerRecord<String, byte[]>> records = List.of(record(0, job("job_a", "hi", 2, null)));
    List<MockProducer<String, byte[]>> producers = new ArrayList<>();
    List<MockConsumer<String, byte[]>> consumers = new ArrayList<>();
    AtomicInteger runs = new AtomicInteger();
    JobConsumer.Runner runner =
        (jobs, done, step) -> {
          if (runs.incrementAndGet() == 1) {
            // What killed a lane thread before: the crash ledger's disk, not Kafka.
            throw new UncheckedIOException(new java.io.IOException("No space left on device"));
          }
          done.accept(
              0,
              JobOutcome.succeeded(new JobEvent.Output("ok", null), new JobEvent.Usage(1, 1, 0)));
          step.run();
        };
    JobConsumer lane =
        new JobConsumer(
            "shared",
            "w1",
            runner,
            CLOCK,
            () -> {
              MockConsumer<String, byte[]> c = consumer(records, 0); // nothing was committed
              consumers.add(c);
              return c;
            },
            id -> {
              MockProducer<String, byte[]> p = producer();
              producers.add(p);
              return p;
            },
            JobConsumer.Batching.ONE_AT_A_TIME,
            null,
            null,
            3,
            Duration.ofMinutes(5));
    assertThatThrownBy(lane::round).isInstanceOf(UncheckedIOException.class);
    lane.reset(); // what the runtime does before its backoff
    assertThat(producers.get(0).closed()).isTrue();
    assertThat(consumers.get(0).closed()).isTrue();
    lane.round();
    assertThat(topicsAndKinds(producers.get(1)))
        .containsExactly("STARTED job_a", "SUCCEEDED job_a", "USAGE job_a");
    assertThat(lane.jobsDone()).isEqualTo(1);
  }

  @Test
  void publishingPutsADeadLettersReasonSourceAndAttemptsInItsHeaders() {
    MockProducer<String, byte[]> p = producer();
    p.initTransactions();
    OutcomePublisher pub = new OutcomePublisher("w1", CLOCK);
    pub.deadLetter(
        p,
        new ConsumerGroupMetadata("g"),
        garbage(9, "job_bad"),
        Map.of(P0, new OffsetAndMetadata(10)),
        "cannot read",
        2);
    assertThat(p.transactionCommitted()).isTrue();
    ProducerRecord<String, byte[]> dlq = p.history().get(0);
    assertThat(
            new String(
                dlq.headers().lastHeader("kosmos.dlq.source").value(), StandardCharsets.UTF_8))
        .isEqualTo(TOPIC + "-0@9");
    assertThat(
            new String(
                dlq.headers().lastHeader("kosmos.dlq.attempts").value(), StandardCharsets.UTF_8))
        .isEqualTo("2");
    assertThat(p.consumerGroupOffsetsHistory().get(0).get("g"))
        .isEqualTo(Map.of(P0, new OffsetAndMetadata(10)));
  }

  @Test
  void aJobCanceledWhileRunningIsBilledForItsWorkAndOneCanceledBeforeItRanIsNot() {
    OutcomePublisher pub = new OutcomePublisher("w1", CLOCK);
    JobRequest job = job("job_c", "abc", 50, null);
    var running =
        pub.ended(
            record(3, job),
            job,
            JobOutcome.canceled("Canceled while running.", new JobEvent.Usage(3, 7, 0)));
    assertThat(running.terminal().kind()).isEqualTo(JobEvent.Kind.CANCELED);
    assertThat(running.terminal().usage()).isEqualTo(new JobEvent.Usage(3, 7, 0));
    assertThat(running.usage()).isNotNull();
    assertThat(running.usage().eventId()).isEqualTo("job_c");
    assertThat(running.usage().inputTokens()).isEqualTo(3);
    assertThat(running.usage().outputTokens()).isEqualTo(7);

    var queued = pub.ended(record(4, job), job, JobOutcome.canceled("Canceled before it ran."));
    assertThat(queued.terminal().kind()).isEqualTo(JobEvent.Kind.CANCELED);
    assertThat(queued.usage()).isNull();
    var failed = pub.ended(record(5, job), job, JobOutcome.failed("timeout", "Too slow."));
    assertThat(failed.usage()).as("failed jobs are never billed").isNull();
  }
}
