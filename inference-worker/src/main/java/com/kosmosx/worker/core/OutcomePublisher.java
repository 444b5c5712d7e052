package com.kosmosx.worker.core;

import com.kosmosx.contracts.BillableUnits;
import com.kosmosx.contracts.JobEvent;
import com.kosmosx.contracts.JobRequest;
import com.kosmosx.contracts.JobType;
import com.kosmosx.contracts.Topic;
import com.kosmosx.contracts.Topics;
import com.kosmosx.contracts.UsageEvent;
import com.kosmosx.runtime.Tracing;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Publishes what happened to jobs, each in one Kafka transaction with the consumed offsets that it
 * settles: {@code started} for a batch (alone, or with the batch's first ends); the terminal
 * events, usage (succeeded jobs only) and offsets of the jobs that ended in one decode step; a dead
 * letter with its job's failure.
 */
final class OutcomePublisher {
  private static final Logger LOG = LoggerFactory.getLogger(OutcomePublisher.class);

  /** A job's end, waiting for its step's commit. */
  record Ended(ConsumerRecord<String, byte[]> record, JobEvent terminal, UsageEvent usage) {}

  private final String workerId;
  private final Clock clock;

  OutcomePublisher(String workerId, Clock clock) {
    this.workerId = workerId;
    this.clock = clock;
  }

  /** One short transaction: {@code started} for every job of a batch (no model run inside). */
  void started(Producer<String, byte[]> p, List<JobRequest> jobs, Instant now) {
    started(p, jobs, null, now);
  }

  /** As above; each event carries the trace of its job's record ({@code records} may be null). */
  void started(
      Producer<String, byte[]> p,
      List<JobRequest> jobs,
      List<ConsumerRecord<String, byte[]>> records,
      Instant now) {
    p.beginTransaction();
    sendStarted(p, jobs, records, now);
    p.commitTransaction();
  }

  private void sendStarted(
      Producer<String, byte[]> p,
      List<JobRequest> jobs,
      List<ConsumerRecord<String, byte[]>> records,
      Instant now) {
    for (int i = 0; i < jobs.size(); i++) {
      JobRequest job = jobs.get(i);
      send(
          p,
          Topics.JOB_EVENTS,
          job.jobId(),
          JobEvent.started(job.jobId(), job.accountId(), now, workerId),
          records == null ? null : Tracing.traceId(records.get(i).headers()));
    }
  }

  /** A job's terminal event and usage from its outcome. */
  Ended ended(ConsumerRecord<String, byte[]> record, JobRequest job, JobOutcome outcome) {
    Instant done = clock.instant();
    JobEvent terminal;
    if (outcome.succeeded()) {
      terminal =
          JobEvent.succeeded(
              job.jobId(), job.accountId(), done, workerId, outcome.output(), outcome.usage());
    } else if (outcome.wasCanceled()) {
      terminal =
          JobEvent.canceled(
              job.jobId(), job.accountId(), done, workerId, outcome.error(), outcome.usage());
    } else {
      terminal = JobEvent.failed(job.jobId(), job.accountId(), done, workerId, outcome.error());
    }
    String status = terminal.kind().name().toLowerCase(java.util.Locale.ROOT);
    if (!BillableUnits.billed(status, outcome.usage() != null)) {
      return new Ended(record, terminal, null);
    }
    UsageEvent usage =
        new UsageEvent(
            job.jobId(),
            job.accountId(),
            job.type(),
            outcome.usage().inputTokens(),
            outcome.usage().outputTokens(),
            // What was measured; the per-request minimum is billing's (BillableUnits).
            job.type() == JobType.IMAGE ? outcome.usage().images() : 0,
            BillableUnits.detection(job.type(), job.input().detectObjects()),
            done);
    return new Ended(record, terminal, usage);
  }

  /** A batch's {@code started} events, not yet published. */
  record Started(List<JobRequest> jobs, List<ConsumerRecord<String, byte[]>> records, Instant at) {}

  /** One transaction for the jobs that ended in one step: their events, usage and offsets. */
  void commitEnded(
      Producer<String, byte[]> p,
      ConsumerGroupMetadata group,
      OffsetTracker offsets,
      List<Ended> ended) {
    commitEnded(p, group, offsets, ended, null);
  }

  /**
   * As above, and first, when {@code started} is not null, the batch's {@code started} events: a
   * batch whose first jobs end quickly publishes its start and their ends in one transaction (the
   * events keep their order on each job's partition).
   */
  void commitEnded(
      Producer<String, byte[]> p,
      ConsumerGroupMetadata group,
      OffsetTracker offsets,
      List<Ended> ended,
      Started started) {
    Map<TopicPartition, OffsetAndMetadata> commit = new HashMap<>();
    for (Ended e : ended) {
      commit.putAll(
          offsets.ended(e.record())); // per partition, the last has the lowest open offset
    }
    p.beginTransaction();
    if (started != null) {
      sendStarted(p, started.jobs(), started.records(), started.at());
    }
    for (Ended e : ended) {
      String trace = e.record() == null ? null : Tracing.traceId(e.record().headers());
      send(p, Topics.JOB_EVENTS, e.terminal().jobId(), e.terminal(), trace);
      if (e.usage() != null) {
        send(p, Topics.USAGE, e.usage().accountId(), e.usage(), trace);
      }
    }
    if (!commit.isEmpty()) {
      p.sendOffsetsToTransaction(commit, group);
    }
    p.commitTransaction();
  }

  /** A job ended without running (or only its offset was behind: {@code terminal} null). */
  void commit(
      Producer<String, byte[]> p,
      ConsumerGroupMetadata group,
      Map<TopicPartition, OffsetAndMetadata> offsets,
      JobEvent terminal) {
    p.beginTransaction();
    if (terminal != null) {
      send(p, Topics.JOB_EVENTS, terminal.jobId(), terminal);
    }
    if (!offsets.isEmpty()) {
      p.sendOffsetsToTransaction(offsets, group);
    }
    p.commitTransaction();
  }

  /**
   * The record goes to the dead-letter topic with its reason, source and attempts, and its job ends
   * failed with {@code dead_lettered} in the same transaction, so the client is not left with a job
   * queued forever. An operator can replay it after a fix.
   */
  void deadLetter(
      Producer<String, byte[]> p,
      ConsumerGroupMetadata group,
      ConsumerRecord<String, byte[]> r,
      Map<TopicPartition, OffsetAndMetadata> offsets,
      String reason,
      int attempts) {
    LOG.warn(
        "dead-lettering the job at {}-{}@{}: {}", r.topic(), r.partition(), r.offset(), reason);
    com.kosmosx.runtime.Metrics.QUARANTINED.labelValues("worker-dlq").inc();
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
      p.sendOffsetsToTransaction(offsets, group);
    }
    p.commitTransaction();
  }

  private static byte[] bytes(String s) {
    return (s == null ? "" : s).getBytes(StandardCharsets.UTF_8);
  }

  private static <V> void send(
      Producer<String, byte[]> p, Topic<String, V> topic, String key, V value) {
    send(p, topic, key, value, null);
  }

  private static <V> void send(
      Producer<String, byte[]> p, Topic<String, V> topic, String key, V value, String traceId) {
    ProducerRecord<String, byte[]> r =
        new ProducerRecord<>(topic.name(), key, topic.serializeValue(value));
    Tracing.addTo(r.headers(), traceId);
    p.send(r);
  }
}
