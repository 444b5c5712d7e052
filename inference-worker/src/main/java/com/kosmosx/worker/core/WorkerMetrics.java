package com.kosmosx.worker.core;

import com.kosmosx.contracts.JobEvent;
import com.kosmosx.contracts.JobRequest;
import com.kosmosx.runtime.Metrics;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Histogram;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The worker's serving metrics, named as vLLM names them (under {@code kosmos_}), labelled by lane
 * and job type. Times from the job's acceptance ({@code submitted_at}, the API's 202) are what a
 * client sees: queue time is acceptance to the batch start, time to first token and end-to-end
 * include it. Inter-token latency is the mean gap between a sequence's tokens after the first.
 */
public final class WorkerMetrics {
  private static final String[] LABELS = {"lane", "type"};

  static final Histogram QUEUE =
      Metrics.histogram(
          "kosmos_request_queue_time_seconds",
          "From the job's acceptance (202) to the start of its batch",
          Metrics.LATENCY_BUCKETS,
          LABELS);
  static final Histogram FIRST_TOKEN =
      Metrics.histogram(
          "kosmos_time_to_first_token_seconds",
          "From the job's acceptance (202) to its first generated token",
          Metrics.LATENCY_BUCKETS,
          LABELS);
  static final Histogram INTER_TOKEN =
      Metrics.histogram(
          "kosmos_inter_token_latency_seconds",
          "Mean time between a sequence's generated tokens after the first",
          new double[] {0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 1, 2.5},
          LABELS);
  static final Histogram E2E =
      Metrics.histogram(
          "kosmos_e2e_request_latency_seconds",
          "From the job's acceptance (202) to its outcome, whatever it is",
          Metrics.LATENCY_BUCKETS,
          LABELS);
  static final Counter PROMPT_TOKENS =
      Metrics.counter(
          "kosmos_prompt_tokens_total", "Prompt tokens of jobs run (billed usage)", LABELS);
  static final Counter GENERATION_TOKENS =
      Metrics.counter(
          "kosmos_generation_tokens_total", "Tokens generated for jobs run (billed usage)", LABELS);
  static final Counter OUTCOMES =
      Metrics.counter(
          "kosmos_request_outcomes_total",
          "Jobs ended by this worker, by outcome (succeeded, or the error code)",
          "lane",
          "type",
          "outcome");
  static final Histogram BATCH_SIZE =
      Metrics.histogram(
          "kosmos_batch_size",
          "Sequences in a decode batch when it starts",
          new double[] {1, 2, 4, 8, 16, 32, 64, 128},
          "lane");

  static final AtomicInteger RUNNING = new AtomicInteger();

  /** KV-cache positions the running batch holds (its widest prompt's room × its rows). */
  static final AtomicLong KV_TOKENS = new AtomicLong();

  private WorkerMetrics() {}

  /**
   * Registers the gauges; {@code kvCapacityTokens} is the worker's token budget (KV-cache memory).
   */
  public static void registerGauges(long kvCapacityTokens) {
    Metrics.QUARANTINED.initLabelValues("worker-dlq");
    Metrics.gauge(
        "kosmos_requests_running", "Sequences being generated now", cb -> cb.call(RUNNING.get()));
    Metrics.gauge(
        "kosmos_kv_cache_usage_ratio",
        "Share of the KV-cache budget (batching.maxBatchTokens) the running batch holds, 0..1",
        cb -> cb.call(kvCapacityTokens <= 0 ? 0 : (double) KV_TOKENS.get() / kvCapacityTokens));
  }

  static String type(JobRequest job) {
    return job.type() == null ? "unknown" : job.type().name().toLowerCase(java.util.Locale.ROOT);
  }

  static String lane(JobRequest job) {
    return job.lane() == null ? "shared" : job.lane();
  }

  static double since(Instant from, Instant now) {
    if (from == null) {
      return Double.NaN;
    }
    return Math.max(0, Duration.between(from, now).toNanos()) / 1e9;
  }

  static void queued(JobRequest job, Instant now) {
    double s = since(job.submittedAt(), now);
    if (!Double.isNaN(s)) {
      QUEUE.labelValues(lane(job), type(job)).observe(s);
    }
  }

  static void firstToken(JobRequest job, Instant now) {
    double s = since(job.submittedAt(), now);
    if (!Double.isNaN(s)) {
      FIRST_TOKEN.labelValues(lane(job), type(job)).observe(s);
    }
  }

  static void interToken(JobRequest job, long firstNanos, long endNanos, int tokens) {
    if (tokens > 1 && firstNanos > 0) {
      INTER_TOKEN
          .labelValues(lane(job), type(job))
          .observe(Metrics.seconds(firstNanos, endNanos) / (tokens - 1));
    }
  }

  static void ended(JobRequest job, JobOutcome outcome, Instant now) {
    String lane = lane(job);
    String type = type(job);
    double s = since(job.submittedAt(), now);
    if (!Double.isNaN(s)) {
      E2E.labelValues(lane, type).observe(s);
    }
    JobEvent.Usage u = outcome.usage();
    if (u != null) {
      PROMPT_TOKENS.labelValues(lane, type).inc(u.inputTokens());
      GENERATION_TOKENS.labelValues(lane, type).inc(u.outputTokens());
    }
    OUTCOMES
        .labelValues(lane, type, outcome.error() == null ? "succeeded" : outcome.error().code())
        .inc();
  }
}
