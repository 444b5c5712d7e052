package com.kosmosx.api.core;

import com.kosmosx.api.db.OutboxDao;
import com.kosmosx.contracts.Topics;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
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

  public DeadLetters(
      Jdbi jdbi, Supplier<Consumer<String, byte[]>> consumers, Runnable relayWakeUp) {
    this.jdbi = jdbi;
    this.consumers = consumers;
    this.relayWakeUp = relayWakeUp;
  }

  /** Replays up to {@code limit} dead letters not replayed before; returns what was replayed. */
  public Map<String, Object> replay(int limit) {
    List<ConsumerRecord<String, byte[]>> records = new ArrayList<>();
    Map<TopicPartition, OffsetAndMetadata> next = new HashMap<>();
    try (Consumer<String, byte[]> c = consumers.get()) {
      List<TopicPartition> partitions =
          c.partitionsFor(Topics.JOBS_DLQ.name()).stream()
              .map(p -> new TopicPartition(p.topic(), p.partition()))
              .toList();
      c.assign(partitions);
      Map<TopicPartition, Long> end = c.endOffsets(partitions);
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
              outbox.insert(source, r.key(), r.value());
              h.createUpdate(
                      "UPDATE jobs SET status = 'queued', error_code = NULL, error_message = NULL,"
                          + " completed_at = NULL WHERE id = :id AND status = 'failed'"
                          + " AND error_code = 'dead_lettered'")
                  .bind("id", r.key())
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
