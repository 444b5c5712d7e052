package com.kosmosx.api.accounts;

import com.kosmosx.api.errors.ApiProblem;
import java.nio.charset.StandardCharsets;
import org.mindrot.jbcrypt.BCrypt;

/** bcrypt password hashing. bcrypt reads at most 72 bytes, so longer passwords are refused. */
public final class Passwords {
  public static final int MIN_CHARS = 8;
  public static final int MAX_BYTES = 72;

  /** How long a hash waits for a turn before the caller gets 503 and tries again. */
  static final long QUEUE_TIMEOUT_SECONDS = 10;

  private final int cost;
  private final java.util.concurrent.Semaphore turns;
  private final java.util.concurrent.atomic.AtomicLong computed =
      new java.util.concurrent.atomic.AtomicLong();

  public Passwords(int cost) {
    this(cost, Math.max(1, Runtime.getRuntime().availableProcessors() / 2));
  }

  /**
   * @param concurrent bcrypt computations at once; the rest wait, so a burst of sign-ins never
   *     holds every core (requests that need no password keep their latency)
   */
  public Passwords(int cost, int concurrent) {
    if (cost < 4 || cost > 31) {
      throw new IllegalArgumentException("bcrypt cost must be 4..31, was " + cost);
    }
    this.cost = cost;
    this.turns = new java.util.concurrent.Semaphore(concurrent, true);
  }

  /** bcrypt computations so far (hashes and checks), for tests and benchmarks. */
  public long computed() {
    return computed.get();
  }

  private <T> T bounded(java.util.function.Supplier<T> work) {
    try {
      if (!turns.tryAcquire(QUEUE_TIMEOUT_SECONDS, java.util.concurrent.TimeUnit.SECONDS)) {
        throw ApiProblem.unavailable("Too many sign-ins at once; retry shortly.")
            .withHeader("Retry-After", "1");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw ApiProblem.unavailable("Interrupted; retry.").withHeader("Retry-After", "1");
    }
    try {
      computed.incrementAndGet();
      return work.get();
    } finally {
      turns.release();
    }
  }

  public static void checkStrength(String password) {
    if (password == null || password.codePointCount(0, password.length()) < MIN_CHARS) {
      throw ApiProblem.validation(
          "The password must have at least " + MIN_CHARS + " characters.", "password");
    }
    if (password.getBytes(StandardCharsets.UTF_8).length > MAX_BYTES) {
      throw ApiProblem.validation(
          "The password must be at most " + MAX_BYTES + " bytes in UTF-8.", "password");
    }
  }

  public String hash(String password) {
    return bounded(() -> BCrypt.hashpw(password, BCrypt.gensalt(cost)));
  }

  public boolean matches(String password, String hash) {
    return hash != null && bounded(() -> BCrypt.checkpw(password, hash));
  }
}
