package com.kosmosx.worker.core;

import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeSet;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

/**
 * Which offsets a lane may commit. Per partition it keeps the offsets polled but not yet ended and
 * the offset after the last one polled; the offset to commit is the lowest one still open, so a job
 * is never marked consumed before it and everything before it has ended (jobs of one batch end in
 * any order).
 */
final class OffsetTracker {
  private final Map<TopicPartition, TreeSet<Long>> open = new HashMap<>();
  private final Map<TopicPartition, Long> polledUpTo = new HashMap<>();

  void polled(ConsumerRecord<?, ?> r) {
    TopicPartition tp = new TopicPartition(r.topic(), r.partition());
    open.computeIfAbsent(tp, k -> new TreeSet<>()).add(r.offset());
    polledUpTo.put(tp, r.offset() + 1);
  }

  /**
   * The offsets to commit once the record has ended: its partition's lowest open offset, or the
   * offset after the last polled one when none is open; nothing if the partition was revoked
   * meanwhile (its new owner runs the job again).
   */
  Map<TopicPartition, OffsetAndMetadata> ended(ConsumerRecord<?, ?> r) {
    TopicPartition tp = new TopicPartition(r.topic(), r.partition());
    TreeSet<Long> offsets = open.get(tp);
    if (offsets == null) {
      return Map.of();
    }
    offsets.remove(r.offset());
    long next = offsets.isEmpty() ? polledUpTo.get(tp) : offsets.first();
    return Map.of(tp, new OffsetAndMetadata(next));
  }

  /** Partitions revoked or lost: whatever was open on them is someone else's now. */
  void forget(Collection<TopicPartition> partitions) {
    partitions.forEach(open::remove);
    partitions.forEach(polledUpTo::remove);
  }

  void clear() {
    open.clear();
    polledUpTo.clear();
  }
}
