package com.kosmosx.runtime;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

/**
 * The Prometheus metrics of a service, served in the text format on its admin port at {@code
 * /metrics} (see {@link #servlet()}); the names and their meaning are listed in {@code
 * docs/METRICS.md}. Names follow the serving tools operators know (vLLM's {@code
 * time_to_first_token_seconds}, {@code e2e_request_latency_seconds}, {@code prompt_tokens_total}…)
 * under the {@code kosmos_} prefix, with JVM metrics beside them.
 *
 * <p>One registry per process. Every metric is declared where it is measured, through these
 * factories, which hand back the same instance for the same name: several instances of a service in
 * one JVM (the tests run two APIs) share it instead of failing on a duplicate registration. A gauge
 * read at scrape time has one callback per name; the last service to set it wins, which in
 * production (one service per process) is the only one.
 */
public final class Metrics {
  public static final PrometheusRegistry REGISTRY = PrometheusRegistry.defaultRegistry;

  /** Seconds: 5 ms to 10 min, for latencies from a token to a whole 20k-token job. */
  public static final double[] LATENCY_BUCKETS = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320, 640
  };

  private static final Map<String, Object> METRICS = new ConcurrentHashMap<>();
  private static final Map<String, AtomicReference<Consumer<GaugeWithCallback.Callback>>>
      CALLBACKS = new ConcurrentHashMap<>();
  private static final Map<String, AtomicReference<Consumer<CounterWithCallback.Callback>>>
      COUNTER_CALLBACKS = new ConcurrentHashMap<>();

  static {
    JvmMetrics.builder().register(REGISTRY);
  }

  /**
   * Records set aside by a loop (see {@link Quarantine}), by loop; every service counts its own.
   */
  public static final Counter QUARANTINED =
      counter(
          "kosmos_quarantined_records_total",
          "Records or rows a loop set aside (quarantine or dead-letter topic), by loop",
          "loop");

  private Metrics() {}

  public static Counter counter(String name, String help, String... labelNames) {
    return (Counter)
        METRICS.computeIfAbsent(
            name,
            n -> Counter.builder().name(n).help(help).labelNames(labelNames).register(REGISTRY));
  }

  public static Histogram histogram(
      String name, String help, double[] buckets, String... labelNames) {
    return (Histogram)
        METRICS.computeIfAbsent(
            name,
            n ->
                Histogram.builder()
                    .name(n)
                    .help(help)
                    .classicOnly()
                    .classicUpperBounds(buckets)
                    .labelNames(labelNames)
                    .register(REGISTRY));
  }

  /**
   * A gauge whose values are read at scrape time. A callback that throws leaves the gauge out of
   * that scrape (the scrape itself still answers), so a slow or absent dependency shows as a gap,
   * not as a stale number.
   */
  public static void gauge(
      String name,
      String help,
      Consumer<GaugeWithCallback.Callback> callback,
      String... labelNames) {
    CALLBACKS
        .computeIfAbsent(
            name,
            n -> {
              AtomicReference<Consumer<GaugeWithCallback.Callback>> ref = new AtomicReference<>();
              GaugeWithCallback.builder()
                  .name(n)
                  .help(help)
                  .labelNames(labelNames)
                  .callback(
                      cb -> {
                        Consumer<GaugeWithCallback.Callback> c = ref.get();
                        if (c != null) {
                          c.accept(cb);
                        }
                      })
                  .register(REGISTRY);
              return ref;
            })
        .set(callback);
  }

  /**
   * A counter kept elsewhere (a Kafka client's metrics), read at scrape time; as {@link #gauge}.
   */
  public static void counterFromCallback(
      String name,
      String help,
      Consumer<CounterWithCallback.Callback> callback,
      String... labelNames) {
    COUNTER_CALLBACKS
        .computeIfAbsent(
            name,
            n -> {
              AtomicReference<Consumer<CounterWithCallback.Callback>> ref = new AtomicReference<>();
              CounterWithCallback.builder()
                  .name(n)
                  .help(help)
                  .labelNames(labelNames)
                  .callback(
                      cb -> {
                        Consumer<CounterWithCallback.Callback> c = ref.get();
                        if (c != null) {
                          c.accept(cb);
                        }
                      })
                  .register(REGISTRY);
              return ref;
            })
        .set(callback);
  }

  /** Seconds between two {@link System#nanoTime()} readings. */
  public static double seconds(long fromNanos, long toNanos) {
    return Math.max(0, toNanos - fromNanos) / 1e9;
  }

  /** {@code /metrics} in Prometheus's text format (version 0.0.4), for the admin port. */
  public static HttpServlet servlet() {
    return new HttpServlet() {
      private final PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();

      @Override
      protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        resp.setStatus(200);
        resp.setContentType(writer.getContentType());
        var out = resp.getOutputStream();
        writer.write(out, REGISTRY.scrape());
        out.flush();
      }
    };
  }
}
