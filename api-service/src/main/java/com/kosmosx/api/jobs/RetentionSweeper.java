package com.kosmosx.api.jobs;

import com.kosmosx.api.db.JobDao;
import com.kosmosx.runtime.BackgroundLoop;
import com.kosmosx.runtime.Loop;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import org.jdbi.v3.core.Jdbi;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Retention: job inputs, outputs and metadata are erased once a job has been finished for longer
 * than the retention period (default 7 days), as are webhook payloads (they carry outputs) and
 * expired idempotency answers. Status, times and token counts stay: usage and invoices need them.
 * Runs on every instance; the statements are idempotent, so overlapping runs are harmless.
 */
public final class RetentionSweeper extends BackgroundLoop {
  public static final String LOOP = "retention";
  private static final Logger LOG = LoggerFactory.getLogger(RetentionSweeper.class);
  static final int BATCH = 1_000;

  private final Jdbi jdbi;
  private final Clock clock;
  private final Duration retention;
  private boolean first = true;

  public RetentionSweeper(Jdbi jdbi, Clock clock, Duration retention, Duration interval) {
    // A sweep runs every interval; one that has not ended after an hour is reported stuck.
    super(LOOP, Loop.Settings.of(interval).withStallAfter(Duration.ofHours(1)));
    this.jdbi = jdbi;
    this.clock = clock;
    this.retention = retention;
  }

  @Override
  public boolean round() {
    if (first) {
      first = false; // the first sweep runs one interval after start, not during it
      return false;
    }
    sweep();
    return false;
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
}
