package com.kosmosx.api.core;

import com.kosmosx.api.db.JobDao;
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
 * Retention: job inputs, outputs and metadata are erased once a job has been finished for longer
 * than the retention period (default 7 days), as are webhook payloads (they carry outputs) and
 * expired idempotency answers. Status, times and token counts stay: usage and invoices need them.
 * Runs on every instance; the statements are idempotent, so overlapping runs are harmless.
 */
public final class RetentionSweeper implements Managed {
  private static final Logger LOG = LoggerFactory.getLogger(RetentionSweeper.class);
  static final int BATCH = 1_000;

  private final Jdbi jdbi;
  private final Clock clock;
  private final Duration retention;
  private final Duration interval;
  private ScheduledExecutorService timer;

  public RetentionSweeper(Jdbi jdbi, Clock clock, Duration retention, Duration interval) {
    this.jdbi = jdbi;
    this.clock = clock;
    this.retention = retention;
    this.interval = interval;
  }

  /** One sweep; returns the number of jobs whose content was erased. */
  public int sweep() {
    Instant now = clock.instant();
    Instant before = now.minus(retention);
    int total = 0;
    int n;
    do {
      n = jdbi.withExtension(JobDao.class, dao -> dao.eraseFinishedBefore(before, now, BATCH));
      total += n;
    } while (n == BATCH);
    jdbi.useHandle(
        h ->
            h.createUpdate(
                    "UPDATE webhook_deliveries SET payload = ''::bytea "
                        + "WHERE status <> 'pending' AND created_at < :before AND length(payload) > 0")
                .bind("before", before)
                .execute());
    jdbi.useExtension(
        IdempotencyDao.class, dao -> dao.deleteBefore(now.minus(JobService.IDEMPOTENCY_WINDOW)));
    if (total > 0) {
      LOG.info("retention: erased the content of {} jobs finished before {}", total, before);
    }
    return total;
  }

  @Override
  public void start() {
    timer =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "retention");
              t.setDaemon(true);
              return t;
            });
    timer.scheduleWithFixedDelay(
        () -> {
          try {
            sweep();
          } catch (RuntimeException e) {
            LOG.warn("retention sweep failed: {}", e.toString());
          }
        },
        interval.toMillis(),
        interval.toMillis(),
        TimeUnit.MILLISECONDS);
  }

  @Override
  public void stop() {
    if (timer != null) {
      timer.shutdownNow();
    }
  }
}
