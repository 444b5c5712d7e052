package com.kosmosx.metering.health;

import com.codahale.metrics.health.HealthCheck;
import org.apache.kafka.streams.KafkaStreams;

/** Healthy while the Streams app runs or rebalances; unhealthy once it errored or stopped. */
public final class StreamsHealthCheck extends HealthCheck {
  private final KafkaStreams streams;

  public StreamsHealthCheck(KafkaStreams streams) {
    this.streams = streams;
  }

  @Override
  protected Result check() {
    KafkaStreams.State state = streams.state();
    if (state == KafkaStreams.State.RUNNING || state == KafkaStreams.State.REBALANCING) {
      return Result.healthy("streams %s", state);
    }
    return Result.unhealthy("streams %s", state);
  }
}
