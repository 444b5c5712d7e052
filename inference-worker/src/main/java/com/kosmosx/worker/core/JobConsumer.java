package com.kosmosx.worker.core;

import com.kosmosx.contracts.JobEvent;
import com.kosmosx.contracts.JobRequest;
import com.kosmosx.contracts.JobType;
import com.kosmosx.contracts.Topic;
import com.kosmosx.contracts.Topics;
import com.kosmosx.contracts.UsageEvent;
import io.dropwizard.lifecycle.Managed;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The worker loop for one jobs lane: consume jobs, run them in batches, and commit each job's
 * outcome exactly once.
 *
 * <p>Batches form from what is waiting: up to {@code maxBatch} jobs within a token budget, waiting
 * at most {@code maxWait} for more once the first one is in. No Kafka transaction spans a model
 * run: one short transaction publishes {@code started} for the whole batch; then, as each job ends,
 * its terminal event, its usage event (succeeded jobs only) and the consumed offsets go out in one
 * transaction. The offset committed per partition is the lowest one still pending or running, so a
 * job is never marked consumed before it and everything before it has ended. If the worker dies,
 * whoever gets the partition re-runs the jobs from that offset; a job that had already ended can
 * then produce a second terminal event with the same job id, which the API's projection (first
 * terminal event wins) and metering (dedup by job id) absorb. Transactions use a stable {@code
 * transactional.id}, so a restarted worker aborts whatever its predecessor left open.
 */
public final class JobConsumer implements Managed {
  private static final Logger LOG = LoggerFactory.getLogger(JobConsumer.class);

  private final String lane;
  private final String workerId;
  private final JobRunner runner;
  private final Clock clock;
  private final java.util.function.Supplier<Consumer<String, byte[]>> consumerFactory;
  private final Function<String, Producer<String, byte[]>> producerFactory;
  private final Topic<String, JobRequest> jobsTopic;
  private final Batching batching;
  private final JobControls controls;
  private final CrashLedger ledger;
  private final int maxAttempts;
  private final Deque<Polled> pending = new ArrayDeque<>();
  // Per partition: offsets polled but not yet ended, and the offset after the last one polled.
  private final Map<TopicPartition, TreeSet<Long>> inFlight = new HashMap<>();
  private final Map<TopicPartition, Long> polledUpTo = new HashMap<>();
  private volatile boolean running;
  private volatile Consumer<String, byte[]> consumer;
  private volatile long lastPollMillis;
  private volatile long jobsDone;
  private volatile int lastBatchSize;
  private Thread thread;

  /**
   * How batches form.
   *
   * @param maxBatch most jobs decoded together
   * @param maxWait longest wait for more jobs once one is waiting
   * @param maxBatchTokens bound on batch size × (prompt + max_tokens), i.e. on KV-cache memory; a
   *     prompt's characters stand in for its tokens, and an image counts its block of image tokens
   *     (see {@link #cost}; a byte-level BPE token is at least one character, except tags), so the
   *     bound errs on the safe side
   */
  public record Batching(int maxBatch, Duration maxWait, long maxBatchTokens) {
    public static final Batching ONE_AT_A_TIME = new Batching(1, Duration.ZERO, Long.MAX_VALUE);
  }

  public JobConsumer(
      String lane,
      String workerId,
      JobRunner runner,
      Clock clock,
      java.util.function.Supplier<Consumer<String, byte[]>> consumerFactory,
      Function<String, Producer<String, byte[]>> producerFactory,
      Batching batching,
      JobControls controls,
      CrashLedger ledger,
      int maxAttempts) {
    this.controls = controls;
    this.ledger = ledger;
    this.maxAttempts = maxAttempts;
    this.lane = lane;
    this.workerId = workerId;
    this.runner = runner;
    this.clock = clock;
    this.consumerFactory = consumerFactory;
    this.producerFactory = producerFactory;
    this.jobsTopic = Topics.jobs(lane);
    this.batching = batching;
  }

  @Override
  public void start() {
    running = true;
    thread = new Thread(this::loop, "jobs-" + lane);
    thread.start();
  }

  @Override
  public void stop() throws InterruptedException {
    running = false;
    Consumer<String, byte[]> c = consumer;
    if (c != null) {
      c.wakeup();
    }
    if (thread != null) {
      thread.join(TimeUnit.SECONDS.toMillis(60));
    }
  }

  /** When the loop last returned from poll; the health check reports a stuck loop from it. */
  public long lastPollMillis() {
    return lastPollMillis;
  }

  public long jobsDone() {
    return jobsDone;
  }

  public int lastBatchSize() {
    return lastBatchSize;
  }

  public Batching batching() {
    return batching;
  }

  public String lane() {
    return lane;
  }

  private void loop() {
    if (controls != null) {
      try {
        if (!controls.awaitCaughtUp(Duration.ofSeconds(30))) {
          LOG.warn("lane {} starts before the cancel requests were read to the end", lane);
        }
      } catch (InterruptedException e) {
        return;
      }
    }
    int failures = 0;
    while (running) {
      String txId = "kosmos-worker-" + workerId + "-" + lane;
      Consumer<String, byte[]> c = consumerFactory.get();
      Producer<String, byte[]> p = producerFactory.apply(txId);
      try {
        consumer = c;
        p.initTransactions();
        c.subscribe(
            List.of(jobsTopic.name()),
            new ConsumerRebalanceListener() {
              @Override
              public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                forget(partitions);
              }

              @Override
              public void onPartitionsAssigned(Collection<TopicPartition> partitions) {}

              @Override
              public void onPartitionsLost(Collection<TopicPartition> partitions) {
                forget(partitions);
              }
            });
        LOG.info(
            "worker {} serving lane {} ({}), batches of up to {}",
            workerId,
            lane,
            jobsTopic.name(),
            batching.maxBatch());
        while (running) {
          if (pending.size() < batching.maxBatch()) {
            poll(c, pending.isEmpty() ? Duration.ofMillis(500) : Duration.ZERO);
          }
          if (pending.isEmpty()) {
            continue;
          }
          long waitUntil = System.nanoTime() + batching.maxWait().toNanos();
          while (pending.size() < batching.maxBatch() && running) {
            long left = waitUntil - System.nanoTime();
            if (left <= 0) {
              break;
            }
            poll(c, Duration.ofNanos(left));
          }
          runBatch(c, p, takeBatch());
          failures = 0;
        }
      } catch (WakeupException e) {
        if (running) {
          LOG.warn("unexpected wakeup on lane {}", lane);
        }
      } catch (ProducerFencedException e) {
        LOG.error("worker {} was fenced on lane {}: another instance has its id", workerId, lane);
        failures++;
        pause(failures);
      } catch (AuthorizationException e) {
        LOG.error("not authorised on lane {}; stopping this lane", lane, e);
        return;
      } catch (KafkaException e) {
        // Transient (broker away, rebalance mid-transaction): the open transaction is aborted with
        // the producer, and the uncommitted jobs are consumed again from the committed offsets.
        failures++;
        LOG.warn(
            "Kafka error on lane {} ({}), restarting the loop: {}", lane, failures, e.toString());
        pause(failures);
      } finally {
        consumer = null;
        pending.clear();
        inFlight.clear();
        polledUpTo.clear();
        // Bounded closes: the default producer close waits forever for a broker that is away.
        p.close(Duration.ofSeconds(5));
        c.close(Duration.ofSeconds(5));
      }
    }
  }

  /** A polled record, decoded once: its job, or why it cannot be read (a dead letter). */
  private record Polled(ConsumerRecord<String, byte[]> record, JobRequest job, String error) {}

  private void poll(Consumer<String, byte[]> c, Duration timeout) {
    for (ConsumerRecord<String, byte[]> r : c.poll(timeout)) {
      TopicPartition tp = new TopicPartition(r.topic(), r.partition());
      inFlight.computeIfAbsent(tp, k -> new TreeSet<>()).add(r.offset());
      polledUpTo.put(tp, r.offset() + 1);
      JobRequest job = null;
      String error = null;
      try {
        job = jobsTopic.deserializeValue(r.value());
        if (job == null) {
          error = "empty message";
        }
      } catch (SerializationException e) {
        error = e.getMessage();
      }
      pending.add(new Polled(r, job, error));
    }
    lastPollMillis = clock.millis();
  }

  private void forget(Collection<TopicPartition> partitions) {
    pending.removeIf(
        p -> partitions.contains(new TopicPartition(p.record().topic(), p.record().partition())));
    partitions.forEach(inFlight::remove);
    partitions.forEach(polledUpTo::remove);
  }

  /** Takes waiting records, in order, while they fit the batch's size and token budget. */
  private List<Polled> takeBatch() {
    List<Polled> batch = new ArrayList<>();
    long longest = 0;
    while (!pending.isEmpty() && batch.size() < batching.maxBatch()) {
      long cost = cost(pending.peek().job());
      long widest = Math.max(longest, cost);
      if (!batch.isEmpty() && widest * (batch.size() + 1) > batching.maxBatchTokens()) {
        break;
      }
      longest = widest;
      batch.add(pending.poll());
    }
    return batch;
  }

  /** Image placeholders plus {@code <s><image></image><grounding>} around them (Kosmos-2). */
  static final int IMAGE_BLOCK_TOKENS = 64 + 4;

  /**
   * Upper bound of a job's KV-cache columns without tokenizing (see {@link Batching}): the prompt's
   * characters, {@code <s>}, the image block if any, and max_tokens. The image's bytes do not
   * count: the model sees it as its fixed block of embeddings.
   */
  static long cost(JobRequest job) {
    if (job == null || job.input() == null) {
      return 1;
    }
    String prompt = job.input().prompt();
    return 1L
        + (prompt == null ? 0 : prompt.length())
        + (job.input().image() != null ? IMAGE_BLOCK_TOKENS : 0)
        + Math.max(0, job.input().maxTokens());
  }

  /** The offsets to commit for a partition once the record at {@code offset} has ended. */
  private Map<TopicPartition, OffsetAndMetadata> ended(ConsumerRecord<String, byte[]> r) {
    TopicPartition tp = new TopicPartition(r.topic(), r.partition());
    TreeSet<Long> open = inFlight.get(tp);
    if (open == null) {
      return Map.of(); // the partition was revoked meanwhile; its new owner re-runs the job
    }
    open.remove(r.offset());
    long next = open.isEmpty() ? polledUpTo.get(tp) : open.first();
    return Map.of(tp, new OffsetAndMetadata(next));
  }

  private void runBatch(
      Consumer<String, byte[]> c, Producer<String, byte[]> p, List<Polled> polled) {
    List<JobRequest> jobs = new ArrayList<>();
    List<ConsumerRecord<String, byte[]>> jobRecords = new ArrayList<>();
    Instant now = clock.instant();
    for (Polled next : polled) {
      ConsumerRecord<String, byte[]> r = next.record();
      JobRequest job = next.job();
      if (next.error() != null) {
        deadLetter(c, p, r, ended(r), next.error(), 1);
        continue;
      }
      if (ledger != null && ledger.isSettled(job.jobId())) {
        // Already ended and committed before a restart; only its offset was behind.
        commit(c, p, ended(r), null, null);
        continue;
      }
      if (controls != null && controls.canceled(job.jobId())) {
        // Canceled while queued: it never runs and is never billed.
        commit(
            c,
            p,
            ended(r),
            JobEvent.canceled(
                job.jobId(),
                job.accountId(),
                now,
                workerId,
                new JobEvent.Error("canceled", "Canceled before it started.")),
            null);
        continue;
      }
      if (job.deadline() != null && now.isAfter(job.deadline())) {
        commit(
            c,
            p,
            ended(r),
            JobEvent.failed(
                job.jobId(),
                job.accountId(),
                now,
                workerId,
                new JobEvent.Error("expired", "The job did not start before its deadline.")),
            null);
        continue;
      }
      jobs.add(job);
      jobRecords.add(r);
    }
    if (jobs.isEmpty()) {
      return;
    }
    // Jobs that were running when this worker last died: dead-letter a repeat offender, run the
    // others alone so an innocent neighbour is not blamed again.
    List<JobRequest> clean = new ArrayList<>();
    List<ConsumerRecord<String, byte[]>> cleanRecords = new ArrayList<>();
    List<Integer> suspects = new ArrayList<>();
    for (int i = 0; i < jobs.size(); i++) {
      int crashes = ledger == null ? 0 : ledger.crashes(jobs.get(i).jobId());
      if (crashes >= maxAttempts) {
        deadLetter(
            c,
            p,
            jobRecords.get(i),
            ended(jobRecords.get(i)),
            "the job was running each of the " + crashes + " times the worker died",
            crashes);
        ledger.forget(jobs.get(i).jobId());
      } else if (crashes > 0) {
        suspects.add(i);
      } else {
        clean.add(jobs.get(i));
        cleanRecords.add(jobRecords.get(i));
      }
    }
    if (!clean.isEmpty()) {
      runGroup(c, p, clean, cleanRecords, now);
    }
    for (int i : suspects) {
      LOG.warn(
          "job {} was running when this worker died {} time(s); running it alone",
          jobs.get(i).jobId(),
          ledger.crashes(jobs.get(i).jobId()));
      runGroup(c, p, List.of(jobs.get(i)), List.of(jobRecords.get(i)), clock.instant());
    }
  }

  private void runGroup(
      Consumer<String, byte[]> c,
      Producer<String, byte[]> p,
      List<JobRequest> jobs,
      List<ConsumerRecord<String, byte[]>> jobRecords,
      Instant now) {
    lastBatchSize = jobs.size();
    if (ledger != null) {
      ledger.begin(jobs.stream().map(JobRequest::jobId).toList());
    }
    p.beginTransaction();
    for (JobRequest job : jobs) {
      send(
          p,
          Topics.JOB_EVENTS,
          job.jobId(),
          JobEvent.started(job.jobId(), job.accountId(), now, workerId));
    }
    p.commitTransaction();

    long t0 = System.nanoTime();
    // Jobs that end in the same decode step commit together: one transaction for their terminal
    // events, usage and offsets. A step of 1-token jobs is one commit instead of one per job.
    List<Ended> step = new ArrayList<>();
    runner.run(
        jobs,
        (i, outcome) -> {
          JobRequest job = jobs.get(i);
          Instant done = clock.instant();
          JobEvent terminal;
          UsageEvent usage = null;
          if (outcome.succeeded()) {
            terminal =
                JobEvent.succeeded(
                    job.jobId(),
                    job.accountId(),
                    done,
                    workerId,
                    outcome.output(),
                    outcome.usage());
            usage =
                new UsageEvent(
                    job.jobId(),
                    job.accountId(),
                    job.type(),
                    outcome.usage().inputTokens(),
                    outcome.usage().outputTokens(),
                    job.type() == JobType.IMAGE ? Math.max(1, outcome.usage().images()) : 0,
                    job.type() == JobType.IMAGE
                        && !Boolean.FALSE.equals(job.input().detectObjects()),
                    done);
          } else if (outcome.wasCanceled()) {
            terminal =
                JobEvent.canceled(job.jobId(), job.accountId(), done, workerId, outcome.error());
          } else {
            terminal =
                JobEvent.failed(job.jobId(), job.accountId(), done, workerId, outcome.error());
          }
          step.add(new Ended(jobRecords.get(i), terminal, usage));
        },
        () -> {
          if (step.isEmpty()) {
            return;
          }
          List<Ended> group = List.copyOf(step);
          step.clear(); // if the commit fails, the loop restarts and these jobs run again
          commitEnded(c, p, group);
          if (ledger != null) {
            ledger.settled(group.stream().map(e -> e.terminal().jobId()).toList());
          }
          for (Ended e : group) {
            jobsDone++;
            LOG.info(
                "job {} {} in {} ms (batch of {}, committed with {} other(s))",
                e.terminal().jobId(),
                e.terminal().kind().name().toLowerCase(),
                (System.nanoTime() - t0) / 1_000_000,
                jobs.size(),
                group.size() - 1);
          }
        });
    if (ledger != null) {
      ledger.end();
    }
  }

  /** A job's end, waiting for its step's commit. */
  private record Ended(
      ConsumerRecord<String, byte[]> record, JobEvent terminal, UsageEvent usage) {}

  /** One transaction for the jobs that ended in one step: their events, usage and offsets. */
  private void commitEnded(
      Consumer<String, byte[]> c, Producer<String, byte[]> p, List<Ended> ended) {
    Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
    for (Ended e : ended) {
      offsets.putAll(ended(e.record())); // per partition, the last call has the lowest open offset
    }
    p.beginTransaction();
    for (Ended e : ended) {
      send(p, Topics.JOB_EVENTS, e.terminal().jobId(), e.terminal());
      if (e.usage() != null) {
        send(p, Topics.USAGE, e.usage().accountId(), e.usage());
      }
    }
    if (!offsets.isEmpty()) {
      p.sendOffsetsToTransaction(offsets, c.groupMetadata());
    }
    p.commitTransaction();
  }

  private void commit(
      Consumer<String, byte[]> c,
      Producer<String, byte[]> p,
      Map<TopicPartition, OffsetAndMetadata> offsets,
      JobEvent terminal,
      UsageEvent usage) {
    p.beginTransaction();
    if (terminal != null) {
      send(p, Topics.JOB_EVENTS, terminal.jobId(), terminal);
    }
    if (usage != null) {
      send(p, Topics.USAGE, usage.accountId(), usage);
    }
    if (!offsets.isEmpty()) {
      p.sendOffsetsToTransaction(offsets, c.groupMetadata());
    }
    p.commitTransaction();
  }

  private void deadLetter(
      Consumer<String, byte[]> c,
      Producer<String, byte[]> p,
      ConsumerRecord<String, byte[]> r,
      Map<TopicPartition, OffsetAndMetadata> offsets,
      String reason,
      int attempts) {
    LOG.warn(
        "dead-lettering undecodable job at {}-{}@{}: {}",
        r.topic(),
        r.partition(),
        r.offset(),
        reason);
    ProducerRecord<String, byte[]> dlq =
        new ProducerRecord<>(
            Topics.JOBS_DLQ.name(), r.key(), r.value() == null ? new byte[0] : r.value());
    dlq.headers()
        .add(new RecordHeader("kosmos.dlq.reason", bytes(reason)))
        .add(
            new RecordHeader(
                "kosmos.dlq.source", bytes(r.topic() + "-" + r.partition() + "@" + r.offset())))
        .add(new RecordHeader("kosmos.dlq.attempts", bytes(String.valueOf(attempts))));
    p.beginTransaction();
    p.send(dlq);
    if (r.key() != null && !r.key().isEmpty()) {
      // The job ends failed with the reason, in the same transaction as the dead letter, so the
      // client is not left with a job queued forever. An operator can replay it after a fix.
      send(
          p,
          Topics.JOB_EVENTS,
          r.key(),
          JobEvent.failed(
              r.key(),
              null,
              clock.instant(),
              workerId,
              new JobEvent.Error(
                  "dead_lettered",
                  "The job message could not be processed and was set aside for an operator: "
                      + (reason == null
                          ? "unknown reason"
                          : reason.length() > 200 ? reason.substring(0, 200) : reason))));
    }
    if (!offsets.isEmpty()) {
      p.sendOffsetsToTransaction(offsets, c.groupMetadata());
    }
    p.commitTransaction();
  }

  private static byte[] bytes(String s) {
    return (s == null ? "" : s).getBytes(StandardCharsets.UTF_8);
  }

  private static <V> void send(
      Producer<String, byte[]> p, Topic<String, V> topic, String key, V value) {
    p.send(new ProducerRecord<>(topic.name(), key, topic.serializeValue(value)));
  }

  private void pause(int failures) {
    try {
      Thread.sleep(Math.min(10_000, 200L << Math.min(failures, 6)));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      running = false;
    }
  }

  /** Consumer settings: read committed, manual offsets (they go in the transaction). */
  public static Map<String, Object> consumerConfig(
      String bootstrap, String groupId, String clientId, Duration maxJobTime, int maxBatch) {
    return Map.of(
        "bootstrap.servers",
        bootstrap,
        "group.id",
        groupId,
        "client.id",
        clientId,
        "isolation.level",
        "read_committed",
        "enable.auto.commit",
        false,
        "auto.offset.reset",
        "earliest",
        // Enough for the next batch; the loop does not poll while a batch runs, so the poll
        // interval must cover the longest job.
        "max.poll.records",
        Math.max(1, maxBatch),
        // A crashed worker's partitions move to the others after 10 s, not the default 45 s.
        "session.timeout.ms",
        10_000,
        "heartbeat.interval.ms",
        3_000,
        "max.poll.interval.ms",
        (int) Math.min(Integer.MAX_VALUE, maxJobTime.toMillis() + 60_000));
  }

  /** Producer settings: transactional, idempotent, acks=all. */
  public static Map<String, Object> producerConfig(String bootstrap, String transactionalId) {
    return Map.of(
        "bootstrap.servers",
        bootstrap,
        "transactional.id",
        transactionalId,
        "enable.idempotence",
        true,
        "acks",
        "all",
        "linger.ms",
        0,
        // Transactions here are short (no model run inside); a dead worker's open one is aborted
        // by the broker after this, or at once when the same worker id starts again.
        "transaction.timeout.ms",
        30_000);
  }
}
