package com.kosmosx.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.UncheckedIOException;
import java.sql.SQLException;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.TimeoutException;
import org.junit.jupiter.api.Test;

class LoopTest {
  private static final Loop.Settings FAST =
      new Loop.Settings(
          new Backoff(Duration.ofMillis(1), Duration.ofMillis(5)),
          Duration.ofSeconds(30),
          Duration.ofSeconds(60));

  @Test
  void anUnexpectedExceptionResetsTheBodyAndTheLoopGoesOn() throws Exception {
    AtomicInteger calls = new AtomicInteger();
    AtomicInteger resets = new AtomicInteger();
    CountDownLatch tenth = new CountDownLatch(1);
    Loop loop =
        new Loop(
            "t",
            new Loop.Body() {
              @Override
              public boolean round() {
                int n = calls.incrementAndGet();
                if (n % 3 == 0) {
                  // What killed a worker lane thread: not a Kafka exception at all.
                  throw new UncheckedIOException(new java.io.IOException("disk full"));
                }
                if (n >= 10) {
                  tenth.countDown();
                }
                return true;
              }

              @Override
              public void reset() {
                resets.incrementAndGet();
              }
            },
            FAST);
    loop.start();
    assertTrue(tenth.await(10, TimeUnit.SECONDS));
    assertTrue(loop.status().healthy(), loop.status().state());
    loop.stop();
    assertTrue(resets.get() >= 3, "reset after each failure, then closed: " + resets.get());
    assertFalse(loop.status().healthy(), "a stopped loop is not live");
  }

  @Test
  void aFatalFailureStopsTheLoopAndReportsItsCause() throws Exception {
    CountDownLatch closed = new CountDownLatch(1);
    Loop loop =
        new Loop(
            "fatal",
            new Loop.Body() {
              @Override
              public boolean round() {
                throw new AuthorizationException("not allowed to read kosmos.jobs.shared");
              }

              @Override
              public void close() {
                closed.countDown();
              }
            },
            FAST);
    loop.start();
    assertTrue(closed.await(10, TimeUnit.SECONDS));
    Loop.Status s = loop.status();
    assertFalse(s.healthy());
    assertTrue(s.state().startsWith("stopped: "), s.state());
    assertTrue(s.state().contains("kosmos.jobs.shared"), s.state());
    loop.stop();
  }

  @Test
  void failuresLastingPastTheStallBoundAreUnhealthyAndRecoveryHeals() throws Exception {
    // The loop fails until the test has seen it reported unhealthy: no sampling window to miss.
    CountDownLatch seenUnhealthy = new CountDownLatch(1);
    CountDownLatch recovered = new CountDownLatch(1);
    Loop loop =
        new Loop(
            "flaky",
            () -> {
              if (seenUnhealthy.getCount() > 0) {
                throw new TimeoutException("broker away");
              }
              recovered.countDown();
              return false;
            },
            FAST.withStallAfter(Duration.ofMillis(20)));
    loop.start();
    Loop.Status s = loop.status();
    while (s.healthy() || !s.state().startsWith("failing for")) {
      Thread.sleep(5);
      s = loop.status();
    }
    assertTrue(s.state().contains("broker away"), s.state());
    seenUnhealthy.countDown();
    assertTrue(recovered.await(30, TimeUnit.SECONDS));
    // The round that succeeded has returned, but the loop records the success just after: wait
    // for it (the failure it saw once made this assertion race the loop's thread).
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (!loop.status().healthy() && System.nanoTime() < end) {
      Thread.sleep(5);
    }
    assertTrue(loop.status().healthy(), loop.status().state());
    loop.stop();
  }

  @Test
  void wakeUpEndsAnIdleWaitAndStopEndsAStuckRoundThroughInterrupt() throws Exception {
    AtomicInteger rounds = new AtomicInteger();
    CountDownLatch second = new CountDownLatch(2);
    Loop idle =
        new Loop(
            "idle",
            () -> {
              rounds.incrementAndGet();
              second.countDown();
              return false;
            },
            FAST);
    idle.start();
    Thread.sleep(100);
    assertEquals(1, rounds.get(), "idles 30 s after an empty round");
    idle.wakeUp();
    assertTrue(second.await(5, TimeUnit.SECONDS));
    idle.stop();

    CountDownLatch blocked = new CountDownLatch(1);
    CountDownLatch released = new CountDownLatch(1);
    Loop stuck =
        new Loop(
            "stuck",
            new Loop.Body() {
              @Override
              public boolean round() throws InterruptedException {
                blocked.countDown();
                released.await();
                throw new IllegalStateException("woken");
              }

              @Override
              public void interrupt() {
                released.countDown();
              }
            },
            FAST.withStallAfter(Duration.ofMillis(50)));
    stuck.start();
    assertTrue(blocked.await(5, TimeUnit.SECONDS));
    Thread.sleep(100);
    assertTrue(stuck.status().state().startsWith("one round has run"), stuck.status().state());
    stuck.stop(); // returns once the loop's thread has ended: interrupt() released the round
    assertTrue(stuck.status().state().equals("not running"), stuck.status().state());
  }

  @Test
  void theSplitNamesPoisonOnlyWhereOneRecordIsAtFault() {
    assertTrue(Failures.poison(new RuntimeException(new SQLException("bad date", "22008"))));
    assertTrue(Failures.poison(new RuntimeException(new SQLException("bad utf8", "22021"))));
    assertFalse(Failures.poison(new RuntimeException(new SQLException("gone", "08006"))));
    assertFalse(Failures.poison(new TimeoutException("away")));
    assertFalse(Failures.poison(new IllegalStateException("who knows")));
    assertTrue(Failures.fatal(new RuntimeException(new OutOfMemoryError())));
    assertFalse(Failures.fatal(new TimeoutException("away")));
  }
}
