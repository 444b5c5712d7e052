package com.kosmosx.runtime;

import com.codahale.metrics.health.HealthCheck;
import io.dropwizard.lifecycle.Managed;
import java.time.Duration;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One background loop: one thread running {@link Body#round} again and again, stopped with a
 * wakeup, with the error split of {@link Failures} applied the same way everywhere.
 *
 * <ul>
 *   <li>A round that finds nothing to do idles up to {@code idleWait}, or until {@link #wakeUp}.
 *   <li>A fatal failure stops the loop; its health check turns unhealthy with the cause.
 *   <li>Any other failure (a record's own fault must be quarantined by the body, inside its round)
 *       resets the body (it drops its clients and starts clean from committed state) and waits the
 *       {@link Backoff}. A loop never dies of an exception nobody expected.
 *   <li>Liveness: the health check is unhealthy when the loop has been failing, or a single round
 *       has run, for longer than {@code stallAfter}, or when its thread is gone.
 * </ul>
 */
public final class Loop implements Managed {
  private static final Logger LOG = LoggerFactory.getLogger(Loop.class);

  /** The work of a loop. */
  public interface Body {
    /**
     * One round of work; true when more is waiting (the next round starts at once). Every call to
     * the outside world in a round must have its own deadline.
     */
    boolean round() throws Exception;

    /** Unblocks a round blocked in a client call (a consumer's {@code wakeup()}); any thread. */
    default void interrupt() {}

    /** Drops clients and per-connection state after a failure; the next round starts clean. */
    default void reset() {}

    /** Releases everything when the loop ends. */
    default void close() {
      reset();
    }
  }

  /**
   * How a loop waits and when it is reported stuck.
   *
   * @param backoff the wait after each consecutive failure
   * @param idleWait the longest idle wait after a round that found nothing (zero: the round itself
   *     blocks, as a Kafka poll does)
   * @param stallAfter how long a round may run, or failures may last, before the loop is unhealthy
   */
  public record Settings(Backoff backoff, Duration idleWait, Duration stallAfter) {
    public static Settings of(Duration idleWait) {
      return new Settings(Backoff.DEFAULT, idleWait, Duration.ofSeconds(60));
    }

    public Settings withBackoff(Backoff b) {
      return new Settings(b, idleWait, stallAfter);
    }

    public Settings withStallAfter(Duration d) {
      return new Settings(backoff, idleWait, d);
    }
  }

  private final String name;
  private final Body body;
  private final Settings settings;
  private final Semaphore wake = new Semaphore(0);
  private final AtomicLong rounds = new AtomicLong();
  private final AtomicLong failuresTotal = new AtomicLong();
  private volatile boolean running;
  private volatile Thread thread;
  private volatile long roundStartedNanos;
  private volatile boolean inRound;
  private volatile long failingSinceNanos;
  private volatile int failures;
  private volatile String lastError;
  private volatile Throwable fatal;

  public Loop(String name, Body body, Settings settings) {
    this.name = name;
    this.body = body;
    this.settings = settings;
  }

  public String name() {
    return name;
  }

  /** Ends an idle wait now (new work was committed). */
  public void wakeUp() {
    if (wake.availablePermits() == 0) {
      wake.release();
    }
  }

  @Override
  public synchronized void start() {
    if (running) {
      return;
    }
    running = true;
    fatal = null;
    Thread t = new Thread(this::run, name);
    t.setDaemon(true);
    thread = t;
    t.start();
  }

  @Override
  public void stop() throws InterruptedException {
    running = false;
    wake.release();
    try {
      body.interrupt();
    } catch (RuntimeException e) {
      LOG.debug("{}: interrupt failed", name, e);
    }
    Thread t = thread;
    if (t != null) {
      t.join(TimeUnit.SECONDS.toMillis(30));
      if (t.isAlive()) {
        t.interrupt();
        t.join(TimeUnit.SECONDS.toMillis(5));
      }
    }
  }

  private void run() {
    try {
      while (running) {
        boolean more;
        roundStartedNanos = System.nanoTime();
        inRound = true;
        try {
          more = body.round();
          rounds.incrementAndGet();
          failures = 0;
          failingSinceNanos = 0;
        } catch (Throwable t) {
          if (!running || t instanceof InterruptedException) {
            return; // stopping: a wakeup or interrupt ends the round
          }
          if (Failures.fatal(t)) {
            fatal = t;
            lastError = Failures.describe(t);
            LOG.error("{} stopped: {}", name, lastError, t);
            return;
          }
          failed(t);
          continue;
        } finally {
          inRound = false;
        }
        if (!more) {
          idle(settings.idleWait());
        }
      }
    } finally {
      try {
        body.close();
      } catch (RuntimeException e) {
        LOG.debug("{}: close failed", name, e);
      }
    }
  }

  private void failed(Throwable t) {
    int n = ++failures;
    failuresTotal.incrementAndGet();
    if (n == 1) {
      failingSinceNanos = System.nanoTime();
    }
    lastError = Failures.describe(t);
    Duration wait = settings.backoff().delay(n);
    if (n == 1 || n % 20 == 0) {
      LOG.warn(
          "{} failed {} time(s) in a row, retrying in {} ms: {}",
          name,
          n,
          wait.toMillis(),
          lastError);
    }
    try {
      body.reset();
    } catch (RuntimeException e) {
      LOG.debug("{}: reset failed", name, e);
    }
    idle(wait);
  }

  private void idle(Duration wait) {
    if (wait.isZero() || !running) {
      return;
    }
    try {
      wake.tryAcquire(wait.toMillis(), TimeUnit.MILLISECONDS);
      wake.drainPermits();
    } catch (InterruptedException e) {
      running = false;
      Thread.currentThread().interrupt();
    }
  }

  /** The loop's state, as its health check reports it. */
  public record Status(
      String name,
      boolean healthy,
      String state,
      long rounds,
      int failingInARow,
      long failures,
      String lastError) {}

  public Status status() {
    Thread t = thread;
    long now = System.nanoTime();
    long stall = settings.stallAfter().toNanos();
    String state;
    boolean healthy;
    if (fatal != null) {
      healthy = false;
      state = "stopped: " + lastError;
    } else if (t == null || !running) {
      healthy = false;
      state = "not running";
    } else if (!t.isAlive()) {
      healthy = false;
      state = "its thread has ended";
    } else if (failures > 0 && now - failingSinceNanos > stall) {
      healthy = false;
      state =
          "failing for "
              + TimeUnit.NANOSECONDS.toSeconds(now - failingSinceNanos)
              + " s ("
              + failures
              + " in a row): "
              + lastError;
    } else if (inRound && now - roundStartedNanos > stall) {
      healthy = false;
      state =
          "one round has run for " + TimeUnit.NANOSECONDS.toSeconds(now - roundStartedNanos) + " s";
    } else {
      healthy = true;
      state = failures > 0 ? "retrying (" + failures + " in a row): " + lastError : "running";
    }
    return new Status(name, healthy, state, rounds.get(), failures, failuresTotal.get(), lastError);
  }

  /** A liveness check for the admin port's health page. */
  public HealthCheck healthCheck() {
    return new HealthCheck() {
      @Override
      protected Result check() {
        Status s = status();
        ResultBuilder b =
            (s.healthy() ? Result.builder().healthy() : Result.builder().unhealthy())
                .withMessage(s.state())
                .withDetail("rounds", s.rounds())
                .withDetail("failures", s.failures());
        return b.build();
      }
    };
  }
}
