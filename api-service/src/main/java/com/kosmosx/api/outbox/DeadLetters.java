package com.kosmosx.api.outbox;

import com.kosmosx.api.db.OutboxDao;
import com.kosmosx.contracts.JobRequest;
import com.kosmosx.contracts.Topic;
import com.kosmosx.contracts.Topics;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.jdbi.v3.core.Jdbi;

/**
 * Replays dead letters (after the cause is fixed): each record goes back to the topic it came from
 * through the outbox, and its job, if it ended {@code failed} with {@code dead_lettered}, is queued
 * again, in one database transaction; then the replay group's offsets move past the records. A
 * crash in between replays them again at the next call, which is harmless (job ids are idempotent
 * downstream).
 */
public final class DeadLetters {
  public static final String GROUP = "kosmos-api.dlq-replay";
  private final Jdbi jdbi;
  private final Supplier<Consumer<String, byte[]>> consumers;
  private final Runnable relayWakeUp;
  private final java.time.Clock clock;
  private final Duration jobDeadline;

  public DeadLetters(
      Jdbi jdbi,
      Supplier<Consumer<String, byte[]>> consumers,
      Runnable relayWakeUp,
      java.time.Clock clock,
      Duration jobDeadline) {
    this.jdbi = jdbi;
    this.consumers = consumers;
    this.relayWakeUp = relayWakeUp;
    this.clock = clock;
    this.jobDeadline = jobDeadline;
  }

  /**
   * A job message on its way back to its lane gets a fresh deadline (now + the job deadline): a
   * replay an hour after the cause must run the job, not end it {@code expired}. Other messages,
   * and bytes that are not a job, go back as they were.
   */
  public static byte[] requeued(String topic, byte[] payload, Instant deadline) {
    if (topic == null
        || !topic.startsWith("kosmos.jobs.")
        || topic.equals(Topics.JOBS_DLQ.name())) {
      return payload;
    }
    try {
      Topic<String, JobRequest> t = Topics.jobs(laneOf(topic));
      JobRequest job = t.deserializeValue(payload);
      if (job == null || job.deadline() == null) {
        return payload;
      }
      return t.serializeValue(
          new JobRequest(
              job.jobId(),
              job.accountId(),
              job.type(),
              job.lane(),
              job.input(),
              job.submittedAt(),
              deadline));
    } catch (RuntimeException e) {
      return payload; // not a job we can read: the worker dead-letters it again, with its reason
    }
  }

  /** The lane of a jobs topic name ({@code kosmos.jobs.<lane>.v1}). */
  private static String laneOf(String topic) {
    String rest = topic.substring("kosmos.jobs.".length());
    return rest.endsWith(".v1") ? rest.substring(0, rest.length() - 3) : rest;
  }

  /** Dead letters read from where the replay group stands, and the offsets just past them. */
  private record Read(
      List<ConsumerRecord<String, byte[]>> records, Map<TopicPartition, OffsetAndMetadata> next) {}

  /** Reads up to {@code limit} dead letters not replayed yet, within 10 s. */
  private static Read read(Consumer<String, byte[]> c, int limit) {
    List<ConsumerRecord<String, byte[]>> records = new ArrayList<>();
    Map<TopicPartition, OffsetAndMetadata> next = new HashMap<>();
    List<TopicPartition> partitions =
        c.partitionsFor(Topics.JOBS_DLQ.name(), Duration.ofSeconds(10)).stream()
            .map(p -> new TopicPartition(p.topic(), p.partition()))
            .toList();
    c.assign(partitions); // positions start at the replay group's committed offsets
    Map<TopicPartition, Long> end = c.endOffsets(partitions, Duration.ofSeconds(10));
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (records.size() < limit && System.nanoTime() < deadline) {
      boolean atEnd = partitions.stream().allMatch(tp -> c.position(tp) >= end.get(tp));
      if (atEnd) {
        break;
      }
      for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(200))) {
        if (records.size() >= limit) {
          break;
        }
        records.add(r);
        next.put(
            new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
      }
    }
    return new Read(records, next);
  }

  /**
   * Lists up to {@code limit} dead letters not replayed yet, oldest first: job id, reason, source,
   * attempts and when, read from the topic's headers (the worker has no database of its own).
   */
  public List<Map<String, Object>> list(int limit) {
    try (Consumer<String, byte[]> c = consumers.get()) {
      List<Map<String, Object>> out = new ArrayList<>();
      for (ConsumerRecord<String, byte[]> r : read(c, limit).records()) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("job_id", r.key());
        m.put("reason", header(r, "kosmos.dlq.reason"));
        m.put("source", header(r, "kosmos.dlq.source"));
        String attempts = header(r, "kosmos.dlq.attempts");
        m.put("attempts", attempts == null ? null : Integer.valueOf(attempts));
        m.put("at", Instant.ofEpochMilli(r.timestamp()).toString());
        m.put("position", r.topic() + "-" + r.partition() + "@" + r.offset());
        out.add(m);
      }
      return out;
    }
  }

  private static String header(ConsumerRecord<String, byte[]> r, String name) {
    Header h = r.headers().lastHeader(name);
    return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
  }

  /** Replays up to {@code limit} dead letters not replayed before; returns what was replayed. */
  public Map<String, Object> replay(int limit) {
    try (Consumer<String, byte[]> c = consumers.get()) {
      Read read = read(c, limit);
      List<ConsumerRecord<String, byte[]>> records = read.records();
      Map<TopicPartition, OffsetAndMetadata> next = read.next();
      List<String> jobs = new ArrayList<>();
      List<String> skipped = new ArrayList<>();
      jdbi.useTransaction(
          h -> {
            OutboxDao outbox = h.attach(OutboxDao.class);
            for (ConsumerRecord<String, byte[]> r : records) {
              String source = sourceTopic(r);
              if (source == null || r.key() == null) {
                skipped.add(r.topic() + "-" + r.partition() + "@" + r.offset());
                continue;
              }
              Instant fresh = clock.instant().plus(jobDeadline);
              outbox.insert(source, r.key(), requeued(source, r.value(), fresh));
              h.createUpdate(
                      "UPDATE jobs SET status = 'queued', error_code = NULL, error_message = NULL,"
                          + " completed_at = NULL, deadline_at = :deadline WHERE id = :id"
                          + " AND status = 'failed' AND error_code = 'dead_lettered'")
                  .bind("id", r.key())
                  .bind("deadline", fresh)
                  .execute();
              jobs.add(r.key());
            }
          });
      if (!next.isEmpty()) {
        c.commitSync(next);
      }
      relayWakeUp.run();
      Map<String, Object> out = new LinkedHashMap<>();
      out.put("replayed", jobs.size());
      out.put("job_ids", jobs);
      out.put("skipped", skipped);
      return out;
    }
  }

  /**
   * The topic a dead letter came from: header {@code kosmos.dlq.source} = topic-partition@offset.
   */
  static String sourceTopic(ConsumerRecord<String, byte[]> r) {
    Header h = r.headers().lastHeader("kosmos.dlq.source");
    if (h == null) {
      return null;
    }
    String s = new String(h.value(), StandardCharsets.UTF_8);
    int at = s.lastIndexOf('@');
    int dash = at < 0 ? -1 : s.lastIndexOf('-', at);
    String topic = dash < 0 ? null : s.substring(0, dash);
    return topic != null && topic.startsWith("kosmos.jobs.") ? topic : null;
  }
}
