package com.kosmosx.metering;

import com.kosmosx.contracts.Topics;
import com.kosmosx.runtime.Metrics;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Predicate;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.streams.KafkaStreams;

/**
 * Metering's metrics, read from Kafka Streams' own at scrape time: how far it is behind the usage
 * topic (records, and the end-to-end latency of the records it processed), the rollups it wrote,
 * and the records Streams dropped (a record it could not read is skipped and counted, never stalls
 * metering). The rollups' arrival in PostgreSQL is the API's {@code kosmos_rollup_writes_total}.
 */
final class MeteringMetrics {
  private static final java.util.Set<String> TOPICS =
      Topics.all().stream().map(t -> t.name()).collect(java.util.stream.Collectors.toSet());

  private MeteringMetrics() {}

  static void register(KafkaStreams streams) {
    Metrics.gauge(
        "kosmos_metering_consumer_lag",
        "Records of an input topic metering has not read yet (consumer records-lag)",
        cb ->
            sum(
                    streams,
                    // Kafka reports each topic twice, once under a legacy name with '_' for '.'.
                    m ->
                        is(m, "consumer-fetch-manager-metrics", "records-lag")
                            && TOPICS.contains(m.tags().get("topic")),
                    "topic")
                .forEach((topic, v) -> cb.call(v, topic)),
        "topic");
    Metrics.gauge(
        "kosmos_metering_lag_seconds",
        "Largest end-to-end latency (record timestamp to processing) of metering's recent records",
        cb -> {
          double max = 0;
          for (var e : streams.metrics().entrySet()) {
            if (is(e.getKey(), "stream-processor-node-metrics", "record-e2e-latency-max")) {
              double v = value(e.getValue());
              if (!Double.isNaN(v)) {
                max = Math.max(max, v / 1000.0);
              }
            }
          }
          cb.call(max);
        });
    Metrics.counterFromCallback(
        "kosmos_metering_rollups_emitted",
        "Rollup updates metering wrote to the usage-rollups topic",
        cb ->
            cb.call(
                sum(
                        streams,
                        m ->
                            is(m, "producer-topic-metrics", "record-send-total")
                                && Topics.USAGE_ROLLUPS.name().equals(m.tags().get("topic")),
                        null)
                    .getOrDefault("", 0.0)));
    Metrics.counterFromCallback(
        "kosmos_metering_records_processed",
        "Records metering's stream threads processed",
        cb ->
            cb.call(
                sum(streams, m -> is(m, "stream-thread-metrics", "process-total"), null)
                    .getOrDefault("", 0.0)));
    Metrics.counterFromCallback(
        "kosmos_metering_dropped_records",
        "Records metering skipped (unreadable or out of its window) instead of stalling",
        cb ->
            cb.call(
                sum(streams, m -> is(m, "stream-task-metrics", "dropped-records-total"), null)
                    .getOrDefault("", 0.0)));
  }

  private static boolean is(MetricName m, String group, String name) {
    return m.group().equals(group) && m.name().equals(name);
  }

  private static double value(Metric m) {
    Object v = m.metricValue();
    return v instanceof Number n ? n.doubleValue() : Double.NaN;
  }

  /** Sums the matching metrics by a tag (or all together under "" when {@code tag} is null). */
  private static Map<String, Double> sum(
      KafkaStreams streams, Predicate<MetricName> which, String tag) {
    Map<String, Double> out = new TreeMap<>();
    if (tag == null) {
      out.put("", 0.0);
    }
    for (var e : streams.metrics().entrySet()) {
      if (!which.test(e.getKey())) {
        continue;
      }
      double v = value(e.getValue());
      if (Double.isNaN(v) || Double.isInfinite(v)) {
        continue;
      }
      String key = tag == null ? "" : e.getKey().tags().getOrDefault(tag, "");
      out.merge(key, v, Double::sum);
    }
    return out;
  }
}
