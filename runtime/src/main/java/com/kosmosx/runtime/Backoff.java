package com.kosmosx.runtime;

import java.time.Duration;

/**
 * The one retry policy of every background loop: {@code initial * 2^(attempt-1)}, at most {@code
 * max}.
 */
public record Backoff(Duration initial, Duration max) {

  /** What most loops use: 200 ms doubling to 10 s. */
  public static final Backoff DEFAULT = new Backoff(Duration.ofMillis(200), Duration.ofSeconds(10));

  public Duration delay(int attempt) {
    if (attempt <= 1) {
      return initial;
    }
    long factor = 1L << Math.min(attempt - 1, 20);
    long ms = Math.min(max.toMillis(), initial.toMillis() * factor);
    return Duration.ofMillis(ms);
  }
}
