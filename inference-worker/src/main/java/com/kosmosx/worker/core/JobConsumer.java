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
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.apache.kafka.clients.consumer.Consumer;
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
 * The worker loop for one jobs lane: consume a job, run it, and commit its outcome exactly once.
 *
 * <p>Per job there are two short Kafka transactions and none spans the model run: the first
 * publishes {@code started}; the second publishes the terminal event, the usage event (succeeded
 * jobs only) and the consumed offset together. If the worker dies between them the job is run again
 * by whoever gets the partition, and still produces exactly one terminal event and one usage event,
 * because only the second transaction advances the offset. Transactions use a stable {@code
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
  private volatile boolean running;
  private volatile Consumer<String, byte[]> consumer;
  private volatile long lastPollMillis;
  private volatile long jobsDone;
  private Thread thread;

  public JobConsumer(
      String lane,
      String workerId,
      JobRunner runner,
      Clock clock,
      java.util.function.Supplier<Consumer<String, byte[]>> consumerFactory,
      Function<String, Producer<String, byte[]>> producerFactory) {
    this.lane = lane;
    this.workerId = workerId;
    this.runner = runner;
    this.clock = clock;
    this.consumerFactory = consumerFactory;
    this.producerFactory = producerFactory;
    this.jobsTopic = Topics.jobs(lane);
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

  public String lane() {
    return lane;
  }

  private void loop() {
    int failures = 0;
    while (running) {
      String txId = "kosmos-worker-" + workerId + "-" + lane;
      Consumer<String, byte[]> c = consumerFactory.get();
      Producer<String, byte[]> p = producerFactory.apply(txId);
      try {
        consumer = c;
        p.initTransactions();
        c.subscribe(List.of(jobsTopic.name()));
        LOG.info("worker {} serving lane {} ({})", workerId, lane, jobsTopic.name());
        while (running) {
          var records = c.poll(Duration.ofMillis(500));
          lastPollMillis = clock.millis();
          for (ConsumerRecord<String, byte[]> r : records) {
            process(c, p, r);
            jobsDone++;
          }
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
        // the producer, and the uncommitted job is consumed again from the committed offset.
        failures++;
        LOG.warn(
            "Kafka error on lane {} ({}), restarting the loop: {}", lane, failures, e.toString());
        pause(failures);
      } finally {
        consumer = null;
        // Bounded closes: the default producer close waits forever for a broker that is away.
        p.close(Duration.ofSeconds(5));
        c.close(Duration.ofSeconds(5));
      }
    }
  }

  private void process(
      Consumer<String, byte[]> c, Producer<String, byte[]> p, ConsumerRecord<String, byte[]> r) {
    Map<TopicPartition, OffsetAndMetadata> next =
        Map.of(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
    JobRequest job;
    try {
      job = jobsTopic.deserializeValue(r.value());
      if (job == null) {
        throw new SerializationException("empty message");
      }
    } catch (SerializationException e) {
      deadLetter(c, p, r, next, e.getMessage());
      return;
    }
    Instant now = clock.instant();
    if (job.deadline() != null && now.isAfter(job.deadline())) {
      commit(
          c,
          p,
          next,
          JobEvent.failed(
              job.jobId(),
              job.accountId(),
              now,
              workerId,
              new JobEvent.Error("expired", "The job did not start before its deadline.")),
          null);
      return;
    }
    p.beginTransaction();
    send(
        p,
        Topics.JOB_EVENTS,
        job.jobId(),
        JobEvent.started(job.jobId(), job.accountId(), now, workerId));
    p.commitTransaction();

    long t0 = System.nanoTime();
    JobOutcome outcome = runner.run(job);
    Instant done = clock.instant();
    JobEvent terminal;
    UsageEvent usage = null;
    if (outcome.succeeded()) {
      terminal =
          JobEvent.succeeded(
              job.jobId(), job.accountId(), done, workerId, outcome.output(), outcome.usage());
      usage =
          new UsageEvent(
              job.jobId(),
              job.accountId(),
              job.type(),
              outcome.usage().inputTokens(),
              outcome.usage().outputTokens(),
              job.type() == JobType.IMAGE ? Math.max(1, outcome.usage().images()) : 0,
              Boolean.TRUE.equals(job.input().detectObjects()),
              done);
    } else {
      terminal = JobEvent.failed(job.jobId(), job.accountId(), done, workerId, outcome.error());
    }
    commit(c, p, next, terminal, usage);
    LOG.info(
        "job {} {} in {} ms",
        job.jobId(),
        terminal.kind().name().toLowerCase(),
        (System.nanoTime() - t0) / 1_000_000);
  }

  private void commit(
      Consumer<String, byte[]> c,
      Producer<String, byte[]> p,
      Map<TopicPartition, OffsetAndMetadata> offsets,
      JobEvent terminal,
      UsageEvent usage) {
    p.beginTransaction();
    send(p, Topics.JOB_EVENTS, terminal.jobId(), terminal);
    if (usage != null) {
      send(p, Topics.USAGE, usage.accountId(), usage);
    }
    p.sendOffsetsToTransaction(offsets, c.groupMetadata());
    p.commitTransaction();
  }

  private void deadLetter(
      Consumer<String, byte[]> c,
      Producer<String, byte[]> p,
      ConsumerRecord<String, byte[]> r,
      Map<TopicPartition, OffsetAndMetadata> offsets,
      String reason) {
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
        .add(new RecordHeader("kosmos.dlq.attempts", bytes("1")));
    p.beginTransaction();
    p.send(dlq);
    p.sendOffsetsToTransaction(offsets, c.groupMetadata());
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
      String bootstrap, String groupId, String clientId, Duration maxJobTime) {
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
        // One job per poll until the batching engine lands; the loop never polls while a job runs,
        // so the poll interval must cover the longest job.
        "max.poll.records",
        1,
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
