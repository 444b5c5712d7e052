package com.kosmosx.metering.health;

import com.codahale.metrics.health.HealthCheck;
import org.apache.kafka.streams.KafkaStreams;

/**
 * Healthy while the Streams app runs or rebalances; unhealthy once it errored or stopped. Reports
 * the state and the input lag (the consumers' largest records-lag-max: usage events not yet
 * metered).
 */
public final class StreamsHealthCheck extends HealthCheck {
  private final KafkaStreams streams;

  public StreamsHealthCheck(KafkaStreams streams) {
    this.streams = streams;
  }

  /** The largest records-lag-max over the app's consumers; -1 before the first fetch. */
  public long lag() {
    double lag = -1;
    for (var e : streams.metrics().entrySet()) {
      if (e.getKey().name().equals("records-lag-max")
          && e.getKey().group().equals("consumer-fetch-manager-metrics")
          && e.getValue().metricValue() instanceof Double d
          && !d.isNaN()) {
        lag = Math.max(lag, d);
      }
    }
    return (long) lag;
  }

  @Override
  protected Result check() {
    KafkaStreams.State state = streams.state();
    boolean ok = state == KafkaStreams.State.RUNNING || state == KafkaStreams.State.REBALANCING;
    return (ok ? Result.builder().healthy() : Result.builder().unhealthy())
        .withMessage("streams %s", state)
        .withDetail("state", state.name())
        .withDetail("lag", lag())
        .build();
  }
}
