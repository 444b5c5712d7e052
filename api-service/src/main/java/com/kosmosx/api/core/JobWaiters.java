package com.kosmosx.api.core;

import io.dropwizard.lifecycle.Managed;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tells waiting requests ({@code Prefer: wait}) that their job ended, without a thread per request.
 * The job-event projection (on whichever API instance consumes the event) sends {@code NOTIFY
 * kosmos_job_done, '<job id>'} with the terminal update; one thread per instance LISTENs and
 * completes the futures of the jobs it waits for. A waiter that misses a notification (the listener
 * was reconnecting) is still answered at its timeout from the database.
 */
public final class JobWaiters implements Managed {
  public static final String CHANNEL = "kosmos_job_done";
  private static final Logger LOG = LoggerFactory.getLogger(JobWaiters.class);

  /** Opens a dedicated connection for LISTEN (not from the pool: it is held for good). */
  public interface ConnectionFactory {
    Connection open() throws SQLException;
  }

  private final ConnectionFactory connections;
  private final ConcurrentHashMap<String, CompletableFuture<Void>> waiting =
      new ConcurrentHashMap<>();
  private volatile boolean running;
  private volatile boolean listening;
  private Thread thread;

  public JobWaiters(ConnectionFactory connections) {
    this.connections = connections;
  }

  /**
   * Completes normally when the job is reported ended, or with a {@link TimeoutException} after
   * {@code timeout}. Register before reading the job's state, so an end is never missed.
   */
  public CompletableFuture<Void> await(String jobId, Duration timeout) {
    CompletableFuture<Void> shared = waiting.computeIfAbsent(jobId, k -> new CompletableFuture<>());
    CompletableFuture<Void> mine = shared.copy();
    mine.orTimeout(timeout.toMillis(), TimeUnit.MILLISECONDS)
        .whenComplete(
            (v, e) -> {
              if (shared.getNumberOfDependents() == 0) {
                waiting.remove(jobId, shared);
              }
            });
    return mine;
  }

  /** Completes the waiters of a job (the listener calls this; tests may too). */
  public void ended(String jobId) {
    CompletableFuture<Void> f = waiting.remove(jobId);
    if (f != null) {
      f.complete(null);
    }
  }

  public int waitingJobs() {
    return waiting.size();
  }

  public boolean listening() {
    return listening;
  }

  @Override
  public void start() {
    running = true;
    thread = new Thread(this::loop, "job-waiters");
    thread.setDaemon(true);
    thread.start();
  }

  @Override
  public void stop() throws InterruptedException {
    running = false;
    if (thread != null) {
      thread.interrupt();
      thread.join(TimeUnit.SECONDS.toMillis(5));
    }
  }

  private void loop() {
    int failures = 0;
    while (running) {
      try (Connection c = connections.open();
          Statement s = c.createStatement()) {
        s.execute("LISTEN " + CHANNEL);
        PGConnection pg = c.unwrap(PGConnection.class);
        listening = true;
        failures = 0;
        while (running) {
          PGNotification[] ns = pg.getNotifications(500);
          if (ns != null) {
            for (PGNotification n : ns) {
              ended(n.getParameter());
            }
          }
        }
      } catch (SQLException | RuntimeException e) {
        listening = false;
        if (!running) {
          return;
        }
        failures++;
        LOG.warn("job-end listener lost its connection ({}): {}", failures, e.toString());
        try {
          Thread.sleep(Math.min(5_000, 100L << Math.min(failures, 6)));
        } catch (InterruptedException ie) {
          return;
        }
      } finally {
        listening = false;
      }
    }
  }
}
