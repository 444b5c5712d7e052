package com.kosmosx.worker.health;

import com.codahale.metrics.health.HealthCheck;
import com.kosmosx.worker.core.JobConsumer;
import java.time.Clock;
import java.time.Duration;

/**
 * Healthy while the lane's loop keeps polling. A loop that has not polled for longer than the job
 * time limit plus a margin is stuck (or cannot reach Kafka).
 */
public final class ConsumerLoopHealthCheck extends HealthCheck {
  private final JobConsumer consumer;
  private final Duration maxSilence;
  private final Clock clock;

  public ConsumerLoopHealthCheck(JobConsumer consumer, Duration maxSilence, Clock clock) {
    this.consumer = consumer;
    this.maxSilence = maxSilence;
    this.clock = clock;
  }

  @Override
  protected Result check() {
    long last = consumer.lastPollMillis();
    if (last == 0) {
      return Result.unhealthy("lane %s has not polled Kafka yet", consumer.lane());
    }
    long silence = clock.millis() - last;
    if (silence > maxSilence.toMillis()) {
      return Result.unhealthy("lane %s last polled %d ms ago", consumer.lane(), silence);
    }
    return Result.healthy("lane %s polling; %d jobs done", consumer.lane(), consumer.jobsDone());
  }
}
