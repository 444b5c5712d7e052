package com.kosmosx.worker.core;

import com.kosmosx.contracts.JobRequest;
import com.kosmosx.contracts.Topic;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Deque;
import java.util.List;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.SerializationException;

/**
 * Forms batches from the polled records, in order: up to {@code maxBatch} jobs while batch size ×
 * the widest job's {@link #cost} stays within the token budget (KV-cache memory). Each record is
 * decoded once; one that cannot be read stays in line with its error, to be dead-lettered in turn.
 */
final class BatchAssembler {

  /** A polled record, decoded once: its job, or why it cannot be read. */
  record Polled(ConsumerRecord<String, byte[]> record, JobRequest job, String error) {}

  /** Image placeholders plus {@code <s><image></image><grounding>} around them (Kosmos-2). */
  static final int IMAGE_BLOCK_TOKENS = 64 + 4;

  private final Topic<String, JobRequest> topic;
  private final JobConsumer.Batching batching;
  private final Deque<Polled> waiting = new ArrayDeque<>();

  BatchAssembler(Topic<String, JobRequest> topic, JobConsumer.Batching batching) {
    this.topic = topic;
    this.batching = batching;
  }

  void add(ConsumerRecord<String, byte[]> r) {
    JobRequest job = null;
    String error = null;
    try {
      job = topic.deserializeValue(r.value());
      if (job == null) {
        error = "empty message";
      }
    } catch (SerializationException e) {
      error = e.getMessage();
    }
    waiting.add(new Polled(r, job, error));
  }

  boolean isEmpty() {
    return waiting.isEmpty();
  }

  boolean full() {
    return waiting.size() >= batching.maxBatch();
  }

  /** Takes waiting records, in order, while they fit the batch's size and token budget. */
  List<Polled> take() {
    List<Polled> batch = new ArrayList<>();
    long longest = 0;
    while (!waiting.isEmpty() && batch.size() < batching.maxBatch()) {
      long cost = cost(waiting.peek().job());
      long widest = Math.max(longest, cost);
      if (!batch.isEmpty() && widest * (batch.size() + 1) > batching.maxBatchTokens()) {
        break;
      }
      longest = widest;
      batch.add(waiting.poll());
    }
    return batch;
  }

  void forget(Collection<TopicPartition> partitions) {
    waiting.removeIf(
        p -> partitions.contains(new TopicPartition(p.record().topic(), p.record().partition())));
  }

  void clear() {
    waiting.clear();
  }

  /**
   * Upper bound of a job's KV-cache columns without tokenizing: the prompt's characters (a
   * byte-level BPE token is at least one character, except tags), {@code <s>}, the image block if
   * any, and max_tokens. The image's bytes do not count: the model sees it as its fixed block of
   * embeddings.
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
}
