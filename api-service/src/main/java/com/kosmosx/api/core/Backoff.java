package com.kosmosx.api.core;

import java.time.Duration;

/** Exponential backoff with a cap: {@code initial * 2^(attempt-1)}, at most {@code max}. */
public record Backoff(Duration initial, Duration max) {

  public Duration delay(int attempt) {
    if (attempt <= 1) {
      return initial;
    }
    long factor = 1L << Math.min(attempt - 1, 20);
    long ms = Math.min(max.toMillis(), initial.toMillis() * factor);
    return Duration.ofMillis(ms);
  }
}
