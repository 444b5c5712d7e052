package com.kosmosx.api.db;

import java.time.Instant;
import java.util.List;
import java.util.Optional;
import org.jdbi.v3.sqlobject.config.RegisterRowMapper;
import org.jdbi.v3.sqlobject.statement.SqlQuery;
import org.jdbi.v3.sqlobject.statement.SqlUpdate;

/**
 * Job rows. Updates from job events are guarded by status so that a replayed or duplicated event
 * never moves a job backwards or overwrites its first terminal result.
 */
@RegisterRowMapper(JobRow.Mapper.class)
public interface JobDao {
  String COLUMNS =
      "id, account_id, type, status, lane, input::text AS input, output::text AS output, "
          + "metadata::text AS metadata, webhook::text AS webhook, input_tokens, output_tokens, "
          + "images, error_code, error_message, created_at, started_at, completed_at";

  /**
   * A submission in one call to {@code kosmos_submit} (migration 12): lock, Idempotency-Key, cap,
   * lane, job row and outbox message; run outside a transaction so its lock ends with it.
   */
  String SUBMIT =
      "SELECT outcome, job_id, request_hash, response, lane FROM kosmos_submit(:accountId, :cap,"
          + " :product, :today, :idemKey, :idemSince, :requestHash, :response, :id, :lane, :input,"
          + " :metadata, :webhook, :createdAt, :deadlineAt, :topic, :payload, :traceId)";

  @SqlQuery("SELECT " + COLUMNS + " FROM jobs WHERE id = :id AND account_id = :accountId")
  Optional<JobRow> find(String id, String accountId);

  @SqlQuery("SELECT " + COLUMNS + " FROM jobs WHERE id = :id")
  Optional<JobRow> findById(String id);

  /** Whether the account's job has ended (the waiting submit's check, without reading the row). */
  @SqlQuery(
      "SELECT status IN ('succeeded', 'failed', 'canceled') FROM jobs"
          + " WHERE id = :id AND account_id = :accountId")
  Optional<Boolean> ended(String id, String accountId);

  /** The row, locked until the transaction ends (cancel decides on it). */
  @SqlQuery(
      "SELECT " + COLUMNS + " FROM jobs WHERE id = :id AND account_id = :accountId FOR UPDATE")
  Optional<JobRow> lock(String id, String accountId);

  /** Newest first; null filters match everything; {@code before} is the previous page's last id. */
  @SqlQuery(
      "SELECT "
          + COLUMNS
          + " FROM jobs WHERE account_id = :accountId"
          + " AND (CAST(:status AS text) IS NULL OR status = :status)"
          + " AND (CAST(:type AS text) IS NULL OR type = :type)"
          + " AND (CAST(:before AS text) IS NULL OR id < :before)"
          + " ORDER BY id DESC LIMIT :limit")
  List<JobRow> list(String accountId, String status, String type, String before, int limit);

  /*
   * The status updates of the projection answer, for the job they changed, whether it has a
   * webhook (no row: a duplicate or late event), so a job without one costs no second read.
   */

  /** Every started event counts an attempt; a queued job becomes running. */
  @SqlQuery(
      "UPDATE jobs SET status = 'running', attempts = attempts + 1, "
          + "started_at = COALESCE(started_at, :at) "
          + "WHERE id = :id AND status IN ('queued', 'running') RETURNING webhook IS NOT NULL")
  Optional<Boolean> markStarted(String id, Instant at);

  @SqlQuery(
      // A job erased while it ran (its account closed) keeps no output that arrives later.
      "UPDATE jobs SET status = 'succeeded', "
          + "output = CASE WHEN erased_at IS NULL THEN CAST(:output AS jsonb) END, "
          + "input_tokens = :inputTokens, output_tokens = :outputTokens, images = :images, "
          + "started_at = COALESCE(started_at, :at), completed_at = :at "
          + "WHERE id = :id AND status IN ('queued', 'running') RETURNING webhook IS NOT NULL")
  Optional<Boolean> markSucceeded(
      String id, String output, int inputTokens, int outputTokens, int images, Instant at);

  @SqlQuery(
      "UPDATE jobs SET status = :status, error_code = :errorCode, error_message = :errorMessage, "
          + "completed_at = :at WHERE id = :id AND status IN ('queued', 'running') RETURNING webhook IS NOT NULL")
  Optional<Boolean> markEnded(
      String id, String status, String errorCode, String errorMessage, Instant at);

  @SqlQuery(
      "UPDATE jobs SET status = 'canceled', error_code = :errorCode,"
          + " error_message = :errorMessage, input_tokens = :inputTokens,"
          + " output_tokens = :outputTokens, images = :images, completed_at = :at"
          + " WHERE id = :id AND status IN ('queued', 'running') RETURNING webhook IS NOT NULL")
  Optional<Boolean> markCanceledWithUsage(
      String id,
      String errorCode,
      String errorMessage,
      int inputTokens,
      int outputTokens,
      int images,
      Instant at);

  /** Returns 1 the first time only: a second cancel request sends no second control message. */
  @SqlUpdate(
      "UPDATE jobs SET cancel_requested_at = :at WHERE id = :id AND cancel_requested_at IS NULL")
  int markCancelRequested(String id, Instant at);

  /** Erases what a client sent and received; status, times and token counts stay for billing. */
  @SqlUpdate(
      "UPDATE jobs SET input = NULL, output = NULL, metadata = NULL, erased_at = now() "
          + "WHERE account_id = :accountId")
  int eraseContent(String accountId);

  /** Retention: erases the content of jobs finished before {@code before}, a batch at a time. */
  @SqlUpdate(
      "UPDATE jobs SET input = NULL, output = NULL, metadata = NULL, erased_at = :now "
          + "WHERE id IN (SELECT id FROM jobs WHERE erased_at IS NULL AND completed_at < :before "
          + "LIMIT :limit)")
  int eraseFinishedBefore(Instant before, Instant now, int limit);
}
