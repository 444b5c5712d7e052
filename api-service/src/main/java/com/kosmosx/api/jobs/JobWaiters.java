package com.kosmosx.api.jobs;

import com.kosmosx.runtime.BackgroundLoop;
import com.kosmosx.runtime.Loop;
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
public final class JobWaiters extends BackgroundLoop {
  public static final String LOOP = "job-end-listener";
  public static final String CHANNEL = "kosmos_job_done";
  private static final Logger LOG = LoggerFactory.getLogger(JobWaiters.class);

  /** Opens a dedicated connection for LISTEN (not from the pool: it is held for good). */
  public interface ConnectionFactory {
    Connection open() throws SQLException;
  }

  private final ConnectionFactory connections;
  private final ConcurrentHashMap<String, CompletableFuture<Void>> waiting =
      new ConcurrentHashMap<>();
  private final java.util.List<java.util.function.Consumer<String>> listeners =
      new java.util.concurrent.CopyOnWriteArrayList<>();
  private volatile boolean listening;
  private Connection connection;
  private PGConnection pg;

  public JobWaiters(ConnectionFactory connections) {
    super(LOOP, Loop.Settings.of(Duration.ZERO));
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

  /** Also tells {@code listener} of every job end announced to this instance (streams). */
  public void onEnded(java.util.function.Consumer<String> listener) {
    listeners.add(listener);
  }

  /** Completes the waiters of a job (the listener calls this; tests may too). */
  public void ended(String jobId) {
    for (java.util.function.Consumer<String> l : listeners) {
      l.accept(jobId);
    }
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

  /**
   * Waits up to 500 ms for notifications (the driver's own deadline) and completes their waiters.
   */
  @Override
  public boolean round() throws SQLException {
    if (pg == null) {
      connection = connections.open();
      try (Statement s = connection.createStatement()) {
        s.execute("LISTEN " + CHANNEL);
      }
      pg = connection.unwrap(PGConnection.class);
      listening = true;
    }
    PGNotification[] ns = pg.getNotifications(500);
    if (ns != null) {
      for (PGNotification n : ns) {
        ended(n.getParameter());
      }
    }
    return true;
  }

  /** After a lost connection: drop it; the next round listens on a new one. */
  @Override
  public void reset() {
    listening = false;
    pg = null;
    Connection c = connection;
    connection = null;
    if (c != null) {
      try {
        c.close();
      } catch (SQLException e) {
        LOG.debug("closing the listener's connection failed", e);
      }
    }
  }
}
