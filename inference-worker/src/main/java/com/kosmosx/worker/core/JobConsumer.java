package com.kosmosx.worker.core;

import com.kosmosx.contracts.JobRequest;
import com.kosmosx.contracts.Topic;
import com.kosmosx.contracts.Topics;
import com.kosmosx.runtime.BackgroundLoop;
import com.kosmosx.runtime.Backoff;
import com.kosmosx.runtime.Clients;
import com.kosmosx.runtime.KafkaSettings;
import com.kosmosx.runtime.Loop;
import com.kosmosx.runtime.Tracing;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import java.util.function.Function;
import java.util.function.Supplier;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The worker loop for one jobs lane, on the {@link Loop} runtime: consume jobs, run them in
 * batches, and commit each job's outcome exactly once. The parts are separate units: {@link
 * BatchAssembler} forms batches, {@link OffsetTracker} says which offsets may be committed, {@link
 * Triage} decides what runs, and {@link OutcomePublisher} writes each outcome in one transaction
 * with its offsets.
 *
 * <p>No Kafka transaction spans a model run. As jobs end, their terminal events, usage events and
 * offsets go out together; the batch's {@code started} events go out in the first of those
 * transactions when it comes within {@link #STARTED_AFTER}, or alone in one short transaction at
 * that time (a 1-token job costs one transaction, a long one still shows as running early). If the
 * worker dies, whoever gets the partition re-runs the jobs from the committed offset; a second
 * terminal event with the same job id is absorbed by the API's projection (first terminal event
 * wins) and metering (dedup by job id). Transactions use a stable {@code transactional.id}, so a
 * restarted worker aborts whatever its predecessor left open.
 *
 * <p>Any failure of a round, a Kafka error or not (a crash ledger that cannot write, a bug), drops
 * the clients and the uncommitted jobs; after a backoff the lane resumes from the committed
 * offsets. The lane's health check turns unhealthy when that lasts, or a batch runs past the job
 * time limit.
 */
public final class JobConsumer extends BackgroundLoop {
  private static final Logger LOG = LoggerFactory.getLogger(JobConsumer.class);

  /** Runs a batch: reports each job's outcome, then the end of each decode step. */
  @FunctionalInterface
  public interface Runner {
    void run(List<JobRequest> jobs, BiConsumer<Integer, JobOutcome> done, Runnable stepEnded);
  }

  /**
   * How batches form.
   *
   * @param maxBatch most jobs decoded together
   * @param maxWait longest wait for more jobs once one is waiting
   * @param maxBatchTokens bound on batch size × (prompt + max_tokens), i.e. on KV-cache memory (see
   *     {@link BatchAssembler#cost})
   */
  public record Batching(int maxBatch, Duration maxWait, long maxBatchTokens) {
    public static final Batching ONE_AT_A_TIME = new Batching(1, Duration.ZERO, Long.MAX_VALUE);
  }

  private final String lane;
  private final String workerId;
  private final Runner runner;
  private final Clock clock;
  private final Supplier<Consumer<String, byte[]>> consumerFactory;
  private final Function<String, Producer<String, byte[]>> producerFactory;
  private final Topic<String, JobRequest> jobsTopic;
  private final Batching batching;
  private final JobControls controls;
  private final CrashLedger ledger;
  private final BatchAssembler batches;
  private final OffsetTracker offsets = new OffsetTracker();
  private final Triage triage;
  private final OutcomePublisher publisher;
  private volatile Consumer<String, byte[]> consumer;
  private Producer<String, byte[]> producer;
  private volatile boolean stopping;
  private boolean caughtUp;
  private volatile long jobsDone;
  private volatile int lastBatchSize;

  public JobConsumer(
      String lane,
      String workerId,
      Runner runner,
      Clock clock,
      Supplier<Consumer<String, byte[]>> consumerFactory,
      Function<String, Producer<String, byte[]>> producerFactory,
      Batching batching,
      JobControls controls,
      CrashLedger ledger,
      int maxAttempts,
      Duration maxJobTime) {
    super(
        "lane-" + lane,
        new Loop.Settings(
            new Backoff(Duration.ofMillis(200), Duration.ofSeconds(10)),
            Duration.ZERO,
            maxJobTime.plusSeconds(60)));
    this.lane = lane;
    this.workerId = workerId;
    this.runner = runner;
    this.clock = clock;
    this.consumerFactory = consumerFactory;
    this.producerFactory = producerFactory;
    this.jobsTopic = Topics.jobs(lane);
    this.batching = batching;
    this.controls = controls;
    this.ledger = ledger;
    this.batches = new BatchAssembler(jobsTopic, batching);
    this.triage = new Triage(workerId, ledger, controls, maxAttempts);
    this.publisher = new OutcomePublisher(workerId, clock);
  }

  @Override
  public void start() {
    stopping = false;
    super.start();
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

  @Override
  public void interrupt() {
    stopping = true;
    Consumer<String, byte[]> c = consumer;
    if (c != null) {
      c.wakeup();
    }
  }

  /** Drops both clients and everything not committed; the next round resumes from Kafka. */
  @Override
  public void reset() {
    batches.clear();
    offsets.clear();
    Producer<String, byte[]> p = producer;
    Consumer<String, byte[]> c = consumer;
    producer = null;
    consumer = null;
    Clients.close(p, "the producer of lane " + lane);
    Clients.close(c, "the consumer of lane " + lane);
  }

  /** When the loop ends: the clients, and the timer thread of batches' starts. */
  @Override
  public void close() {
    reset();
    java.util.concurrent.ScheduledExecutorService timer;
    synchronized (this) {
      timer = startTimer;
      startTimer = null;
    }
    if (timer != null) {
      timer.shutdownNow();
      try {
        timer.awaitTermination(5, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /** One round: poll, form a batch (waiting at most maxWait for more), run it, commit outcomes. */
  @Override
  public boolean round() throws InterruptedException {
    if (!caughtUp && controls != null) {
      if (!controls.awaitCaughtUp(Duration.ofSeconds(30))) {
        LOG.warn("lane {} starts before the cancel requests were read to the end", lane);
      }
    }
    caughtUp = true;
    Consumer<String, byte[]> c = consumer;
    if (c == null) {
      c = open();
    }
    if (!batches.full()) {
      // Idle, the poll waits for records (they end it at once) up to 2 s between turns.
      poll(c, batches.isEmpty() ? Duration.ofSeconds(2) : Duration.ZERO);
    }
    if (batches.isEmpty()) {
      return true;
    }
    long waitUntil = System.nanoTime() + batching.maxWait().toNanos();
    while (!batches.full() && !stopping) {
      long left = waitUntil - System.nanoTime();
      if (left <= 0) {
        break;
      }
      poll(c, Duration.ofNanos(left));
    }
    runBatch(c, batches.take());
    return true;
  }

  private Consumer<String, byte[]> open() {
    Consumer<String, byte[]> c = consumerFactory.get();
    consumer = c;
    Producer<String, byte[]> p = producerFactory.apply("kosmos-worker-" + workerId + "-" + lane);
    producer = p;
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
    return c;
  }

  private void poll(Consumer<String, byte[]> c, Duration timeout) {
    for (ConsumerRecord<String, byte[]> r : c.poll(timeout)) {
      offsets.polled(r);
      batches.add(r);
    }
  }

  private void forget(Collection<TopicPartition> partitions) {
    batches.forget(partitions);
    offsets.forget(partitions);
  }

  private void runBatch(Consumer<String, byte[]> c, List<BatchAssembler.Polled> polled) {
    Producer<String, byte[]> p = producer;
    Instant now = clock.instant();
    List<JobRequest> clean = new ArrayList<>();
    List<ConsumerRecord<String, byte[]>> cleanRecords = new ArrayList<>();
    List<Triage.RunAlone> suspects = new ArrayList<>();
    List<ConsumerRecord<String, byte[]>> suspectRecords = new ArrayList<>();
    for (BatchAssembler.Polled next : polled) {
      ConsumerRecord<String, byte[]> r = next.record();
      Triage.Decision d = triage.decide(next, now);
      if (d instanceof Triage.Run run) {
        clean.add(run.job());
        cleanRecords.add(r);
      } else if (d instanceof Triage.RunAlone alone) {
        suspects.add(alone);
        suspectRecords.add(r);
      } else if (d instanceof Triage.End end) {
        publisher.commit(p, c.groupMetadata(), offsets.ended(r), end.terminal());
      } else if (d instanceof Triage.DeadLetter dl) {
        publisher.deadLetter(p, c.groupMetadata(), r, offsets.ended(r), dl.reason(), dl.attempts());
        if (ledger != null && next.job() != null) {
          ledger.forget(next.job().jobId());
        }
      } else {
        publisher.commit(p, c.groupMetadata(), offsets.ended(r), null); // settled before
      }
    }
    if (!clean.isEmpty()) {
      runGroup(c, p, clean, cleanRecords, now);
    }
    for (int i = 0; i < suspects.size(); i++) {
      LOG.warn(
          "job {} was running when this worker died {} time(s); running it alone",
          suspects.get(i).job().jobId(),
          suspects.get(i).crashes());
      runGroup(
          c, p, List.of(suspects.get(i).job()), List.of(suspectRecords.get(i)), clock.instant());
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
    // The batch's start goes out with its first ends, in their transaction, when they come within
    // STARTED_AFTER (a short job costs one transaction, not two); otherwise alone at that time,
    // so a long prefill shows its jobs running.
    PendingStart start = new PendingStart(new OutcomePublisher.Started(jobs, jobRecords, now), p);
    java.util.concurrent.ScheduledFuture<?> alone =
        startTimer().schedule(start::publishAlone, startedAfter.toNanos(), TimeUnit.NANOSECONDS);
    for (int i = 0; i < jobs.size(); i++) {
      JobRequest job = jobs.get(i);
      try (var scope =
          Tracing.job(
              job.jobId(),
              job.accountId(),
              job.lane(),
              Tracing.traceId(jobRecords.get(i).headers()))) {
        LOG.info("job {} started (batch of {})", job.jobId(), jobs.size());
      }
    }
    long t0 = System.nanoTime();
    // Jobs that end in the same decode step commit together: one transaction for their terminal
    // events, usage and offsets. A step of 1-token jobs is one commit instead of one per job.
    List<OutcomePublisher.Ended> step = new ArrayList<>();
    try {
      runSteps(c, p, jobs, jobRecords, start, t0, step);
    } finally {
      alone.cancel(false);
      start.close(); // a timer already running finishes first; none starts after
    }
    if (ledger != null) {
      ledger.end();
    }
  }

  private void runSteps(
      Consumer<String, byte[]> c,
      Producer<String, byte[]> p,
      List<JobRequest> jobs,
      List<ConsumerRecord<String, byte[]>> jobRecords,
      PendingStart start,
      long t0,
      List<OutcomePublisher.Ended> step) {
    runner.run(
        jobs,
        (i, outcome) -> step.add(publisher.ended(jobRecords.get(i), jobs.get(i), outcome)),
        () -> {
          if (step.isEmpty()) {
            return;
          }
          List<OutcomePublisher.Ended> group = List.copyOf(step);
          step.clear(); // if the commit fails, the round fails and these jobs run again
          start.commitEnded(c.groupMetadata(), group);
          if (ledger != null) {
            ledger.settled(group.stream().map(e -> e.terminal().jobId()).toList());
          }
          for (OutcomePublisher.Ended e : group) {
            jobsDone++;
            try (var scope =
                Tracing.job(
                    e.terminal().jobId(),
                    e.terminal().accountId(),
                    jobs.stream()
                        .filter(j -> j.jobId().equals(e.terminal().jobId()))
                        .map(JobRequest::lane)
                        .findFirst()
                        .orElse(null),
                    Tracing.traceId(e.record().headers()))) {
              LOG.info(
                  "job {} {} in {} ms (batch of {}, committed with {} other(s))",
                  e.terminal().jobId(),
                  e.terminal().kind().name().toLowerCase(),
                  (System.nanoTime() - t0) / 1_000_000,
                  jobs.size(),
                  group.size() - 1);
            }
          }
        });
  }

  /** How long a batch's start may wait for its first ends to share their transaction. */
  static final Duration STARTED_AFTER = Duration.ofMillis(50);

  private volatile Duration startedAfter = STARTED_AFTER;

  /** Another wait than {@link #STARTED_AFTER} (tests make the timer certain, or never). */
  JobConsumer startedAfter(Duration wait) {
    this.startedAfter = wait;
    return this;
  }

  private java.util.concurrent.ScheduledExecutorService startTimer;

  private synchronized java.util.concurrent.ScheduledExecutorService startTimer() {
    if (startTimer == null) {
      startTimer =
          java.util.concurrent.Executors.newSingleThreadScheduledExecutor(
              r -> {
                Thread t = new Thread(r, "lane-" + lane + "-started");
                t.setDaemon(true);
                return t;
              });
    }
    return startTimer;
  }

  /**
   * A batch's {@code started} events until published: by the timer alone, or by the lane thread
   * with the first ends. The producer's transactions of the batch run under this object's lock, so
   * the two never interleave.
   */
  private final class PendingStart {
    private final OutcomePublisher.Started started;
    private final Producer<String, byte[]> producer;
    private boolean published;

    PendingStart(OutcomePublisher.Started started, Producer<String, byte[]> producer) {
      this.started = started;
      this.producer = producer;
    }

    synchronized void publishAlone() {
      if (published) {
        return;
      }
      published = true;
      try {
        publisher.started(producer, started.jobs(), started.records(), started.at());
      } catch (RuntimeException e) {
        // The producer is now unusable: the lane's next transaction fails, and its round resets
        // the clients and runs the batch again.
        LOG.warn("lane {}: publishing a batch's start failed: {}", lane, e.toString());
      }
    }

    synchronized void commitEnded(ConsumerGroupMetadata group, List<OutcomePublisher.Ended> ended) {
      OutcomePublisher.Started with = published ? null : started;
      published = true;
      publisher.commitEnded(producer, group, offsets, ended, with);
    }

    synchronized void close() {
      published = true;
    }
  }

  /** Consumer settings: read committed, manual offsets (they go in the transaction). */
  public static Map<String, Object> consumerConfig(
      String bootstrap, String groupId, String clientId, Duration maxJobTime, int maxBatch) {
    // Enough for the next batch; the loop does not poll while a batch runs, so the poll interval
    // covers the longest job.
    return KafkaSettings.laneReader(bootstrap, groupId, clientId, maxBatch, maxJobTime);
  }

  /** Producer settings: transactional, idempotent, acks=all. */
  public static Map<String, Object> producerConfig(String bootstrap, String transactionalId) {
    return KafkaSettings.transactionalProducer(bootstrap, transactionalId);
  }
}
