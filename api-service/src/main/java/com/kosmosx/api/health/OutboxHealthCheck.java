package com.kosmosx.api.health;

import com.codahale.metrics.health.HealthCheck;
import com.kosmosx.api.outbox.OutboxRelay;

/**
 * Reports the outbox backlog. A backlog is not unhealthy by itself (it is how the API rides out a
 * Kafka outage) until it grows past the configured bound.
 */
public final class OutboxHealthCheck extends HealthCheck {
  private final OutboxRelay relay;
  private final long maxBacklog;

  public OutboxHealthCheck(OutboxRelay relay, long maxBacklog) {
    this.relay = relay;
    this.maxBacklog = maxBacklog;
  }

  @Override
  protected Result check() {
    long pending = relay.pending();
    if (pending > maxBacklog) {
      return Result.unhealthy("%d jobs waiting in the outbox", pending);
    }
    return Result.healthy("%d jobs waiting in the outbox", pending);
  }
}
