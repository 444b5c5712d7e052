package com.kosmosx.api.jobs;

import com.kosmosx.api.webhooks.WebhookDeliveries;
import com.kosmosx.runtime.BackgroundLoop;
import com.kosmosx.runtime.Loop;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.jdbi.v3.core.Jdbi;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Ends queued jobs that passed their deadline: a job on a lane no worker serves does not wait
 * silently, it ends {@code failed} with {@code expired} (the worker's own code for a job it reaches
 * too late) and a message naming the lane, with its webhook and waiters told. Not run, not billed.
 *
 * <p>It waits {@code grace} past the deadline first: a worker starts a job only before its
 * deadline, and its {@code started} event reaches the projection well within the grace, so a job
 * that did start is never ended here.
 */
public final class DeadlineSweeper extends BackgroundLoop {
  private static final Logger LOG = LoggerFactory.getLogger(DeadlineSweeper.class);
  public static final String LOOP = "deadline-sweeper";
  static final int BATCH = 500;

  private final Jdbi jdbi;
  private final Clock clock;
  private final Duration grace;
  private final Lanes lanes;
  private final WebhookDeliveries webhooks;

  public DeadlineSweeper(
      Jdbi jdbi,
      Clock clock,
      Duration grace,
      Duration interval,
      Lanes lanes,
      WebhookDeliveries webhooks) {
    super(LOOP, Loop.Settings.of(interval));
    this.jdbi = jdbi;
    this.clock = clock;
    this.grace = grace;
    this.lanes = lanes;
    this.webhooks = webhooks;
  }

  @Override
  public boolean round() {
    return sweep() == BATCH;
  }

  /** Ends up to {@link #BATCH} overdue queued jobs; returns how many. */
  public int sweep() {
    Instant now = clock.instant();
    List<Map<String, Object>> overdue =
        jdbi.withHandle(
            h ->
                h.createQuery(
                        "SELECT id, lane FROM jobs WHERE status = 'queued' AND deadline_at < :cutoff"
                            + " ORDER BY deadline_at LIMIT :limit")
                    .bind("cutoff", now.minus(grace))
                    .bind("limit", BATCH)
                    .mapToMap()
                    .list());
    if (overdue.isEmpty()) {
      return 0;
    }
    int ended = 0;
    for (Map<String, Object> row : overdue) {
      String id = (String) row.get("id");
      String lane = (String) row.get("lane");
      String message =
          lanes != null && !lanes.served(lane)
              ? "No worker started the job before its deadline: lane '"
                  + lane
                  + "' has no worker serving it. It was not run and is not billed."
              : "No worker started the job before its deadline. It was not run and is not billed.";
      ended +=
          jdbi.inTransaction(
              h -> {
                int changed =
                    h.createUpdate(
                            "UPDATE jobs SET status = 'failed', error_code = 'expired',"
                                + " error_message = :message, completed_at = :now"
                                + " WHERE id = :id AND status = 'queued'")
                        .bind("message", message)
                        .bind("now", now)
                        .bind("id", id)
                        .execute();
                if (changed > 0) {
                  if (webhooks != null) {
                    webhooks.enqueue(h, id, "completed");
                  }
                  h.createQuery("SELECT pg_notify(:channel, :id)")
                      .bind("channel", JobWaiters.CHANNEL)
                      .bind("id", id)
                      .mapTo(String.class)
                      .findOne();
                }
                return changed;
              });
    }
    if (ended > 0) {
      LOG.warn("ended {} queued job(s) past their deadline", ended);
    }
    return ended;
  }
}
