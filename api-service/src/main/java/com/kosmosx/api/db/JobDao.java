package com.kosmosx.api.db;

import java.time.Instant;
import java.util.Optional;
import org.jdbi.v3.sqlobject.config.RegisterConstructorMapper;
import org.jdbi.v3.sqlobject.statement.SqlQuery;
import org.jdbi.v3.sqlobject.statement.SqlUpdate;

/**
 * Job rows. Updates from job events are guarded by status so that a replayed or duplicated event
 * never moves a job backwards or overwrites its first terminal result.
 */
@RegisterConstructorMapper(JobRow.class)
public interface JobDao {

  @SqlUpdate(
      "INSERT INTO jobs (id, account_id, type, status, lane, input, metadata, created_at) "
          + "VALUES (:id, :accountId, :type, 'queued', :lane, CAST(:input AS jsonb), "
          + "CAST(:metadata AS jsonb), :createdAt)")
  void insert(
      String id,
      String accountId,
      String type,
      String lane,
      String input,
      String metadata,
      Instant createdAt);

  @SqlQuery(
      "SELECT id, account_id, type, status, lane, input::text AS input, output::text AS output, "
          + "metadata::text AS metadata, input_tokens, output_tokens, images, error_code, "
          + "error_message, created_at, started_at, completed_at "
          + "FROM jobs WHERE id = :id AND account_id = :accountId")
  Optional<JobRow> find(String id, String accountId);

  @SqlUpdate(
      "UPDATE jobs SET status = 'running', started_at = COALESCE(started_at, :at) "
          + "WHERE id = :id AND status = 'queued'")
  int markStarted(String id, Instant at);

  @SqlUpdate(
      "UPDATE jobs SET status = 'succeeded', output = CAST(:output AS jsonb), "
          + "input_tokens = :inputTokens, output_tokens = :outputTokens, images = :images, "
          + "started_at = COALESCE(started_at, :at), completed_at = :at "
          + "WHERE id = :id AND status IN ('queued', 'running')")
  int markSucceeded(
      String id, String output, int inputTokens, int outputTokens, int images, Instant at);

  @SqlUpdate(
      "UPDATE jobs SET status = :status, error_code = :errorCode, error_message = :errorMessage, "
          + "completed_at = :at WHERE id = :id AND status IN ('queued', 'running')")
  int markEnded(String id, String status, String errorCode, String errorMessage, Instant at);

  /** Serialises submissions of one account until the transaction ends. */
  @SqlQuery("SELECT 1 FROM (SELECT pg_advisory_xact_lock(hashtext(:accountId))) AS locked")
  int lockAccount(String accountId);

  @SqlQuery(
      "SELECT count(*) FROM jobs WHERE account_id = :accountId AND status IN ('queued', 'running')")
  int countUnfinished(String accountId);

  /** Erases what a client sent and received; status, times and token counts stay for billing. */
  @SqlUpdate(
      "UPDATE jobs SET input = NULL, output = NULL, metadata = NULL WHERE account_id = :accountId")
  int eraseContent(String accountId);
}
