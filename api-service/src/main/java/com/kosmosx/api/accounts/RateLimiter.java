package com.kosmosx.api.accounts;

import io.dropwizard.lifecycle.Managed;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.jdbi.v3.core.Jdbi;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Fixed-window rate limits kept in PostgreSQL, so every API instance enforces one shared limit:
 * each hit is one atomic upsert that returns the window's count. Windows are aligned to the epoch
 * (a one-minute limit resets on the minute), which makes {@code RateLimit-Reset} exact.
 */
public final class RateLimiter implements Managed {
  private static final Logger LOG = LoggerFactory.getLogger(RateLimiter.class);

  private final Jdbi jdbi;
  private final Clock clock;
  private ScheduledExecutorService cleaner;

  public RateLimiter(Jdbi jdbi, Clock clock) {
    this.jdbi = jdbi;
    this.clock = clock;
  }

  /** The state of one bucket after (or without) a hit. */
  public record Decision(boolean allowed, int limit, int remaining, long resetSeconds) {}

  /** A counted hit that may be given back: its bucket and window. */
  public record Reservation(String bucket, Instant windowStart, Decision decision) {}

  /** Counts one hit against the bucket and says whether it is within the limit. */
  public Decision hit(String bucket, int limit, Duration window) {
    return reserve(bucket, limit, window).decision();
  }

  /**
   * Counts one hit, like {@link #hit}, and returns it as a reservation that {@link #release} can
   * give back. A refused hit stays counted: a client hammering past the limit stays refused.
   */
  public Reservation reserve(String bucket, int limit, Duration window) {
    Instant now = clock.instant();
    Instant start = windowStart(now, window);
    int count =
        jdbi.withHandle(
            h ->
                h.createQuery(
                        "INSERT INTO rate_limits (bucket, window_start, count) VALUES (:b, :w, 1) "
                            + "ON CONFLICT (bucket, window_start) "
                            + "DO UPDATE SET count = rate_limits.count + 1 RETURNING count")
                    .bind("b", bucket)
                    .bind("w", start)
                    .mapTo(Integer.class)
                    .one());
    return new Reservation(bucket, start, decision(count, limit, now, start, window));
  }

  /** Gives back one hit of an allowed reservation (in the window it was counted in). */
  public void release(Reservation r) {
    if (!r.decision().allowed()) {
      return;
    }
    jdbi.useHandle(
        h ->
            h.createUpdate(
                    "UPDATE rate_limits SET count = count - 1"
                        + " WHERE bucket = :b AND window_start = :w AND count > 0")
                .bind("b", r.bucket())
                .bind("w", r.windowStart())
                .execute());
  }

  /** The bucket's state without counting a hit. */
  public Decision peek(String bucket, int limit, Duration window) {
    Instant now = clock.instant();
    Instant start = windowStart(now, window);
    int count =
        jdbi.withHandle(
            h ->
                h.createQuery(
                        "SELECT count FROM rate_limits WHERE bucket = :b AND window_start = :w")
                    .bind("b", bucket)
                    .bind("w", start)
                    .mapTo(Integer.class)
                    .findOne()
                    .orElse(0));
    // A peek is no hit: the count itself may equal the limit and still be allowed.
    return new Decision(
        count < limit, limit, Math.max(0, limit - count), reset(now, start, window));
  }

  private static Decision decision(
      int count, int limit, Instant now, Instant start, Duration window) {
    return new Decision(
        count <= limit, limit, Math.max(0, limit - count), reset(now, start, window));
  }

  private static long reset(Instant now, Instant start, Duration window) {
    long ms = start.plus(window).toEpochMilli() - now.toEpochMilli();
    return Math.max(1, (ms + 999) / 1000);
  }

  static Instant windowStart(Instant now, Duration window) {
    long w = window.toMillis();
    return Instant.ofEpochMilli(Math.floorDiv(now.toEpochMilli(), w) * w);
  }

  @Override
  public void start() {
    cleaner =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "rate-limit-cleaner");
              t.setDaemon(true);
              return t;
            });
    cleaner.scheduleWithFixedDelay(this::deleteOldWindows, 1, 10, TimeUnit.MINUTES);
  }

  @Override
  public void stop() {
    if (cleaner != null) {
      cleaner.shutdownNow();
    }
  }

  /** Windows older than a day are of no use to any limit. */
  void deleteOldWindows() {
    try {
      jdbi.useHandle(
          h ->
              h.createUpdate("DELETE FROM rate_limits WHERE window_start < :cutoff")
                  .bind("cutoff", clock.instant().minus(Duration.ofDays(1)))
                  .execute());
    } catch (RuntimeException e) {
      LOG.warn("could not delete old rate-limit windows: {}", e.toString());
    }
  }
}
