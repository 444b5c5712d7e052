package com.kosmosx.api.jobs;

import java.time.Instant;
import java.util.Optional;
import org.jdbi.v3.sqlobject.config.RegisterConstructorMapper;
import org.jdbi.v3.sqlobject.statement.SqlQuery;
import org.jdbi.v3.sqlobject.statement.SqlUpdate;

/** First answers to Idempotency-Keys, per account. */
@RegisterConstructorMapper(IdempotencyDao.Entry.class)
public interface IdempotencyDao {

  /** A stored first answer. */
  record Entry(byte[] requestHash, String jobId, String response) {}

  @SqlQuery(
      "SELECT request_hash, job_id, response FROM idempotency_keys "
          + "WHERE account_id = :accountId AND idem_key = :key AND created_at > :since")
  Optional<Entry> find(String accountId, String key, Instant since);

  /** Inserts, or replaces an entry older than the window (a key may be reused after 24 h). */
  @SqlUpdate(
      "INSERT INTO idempotency_keys (account_id, idem_key, request_hash, job_id, response, "
          + "created_at) VALUES (:accountId, :key, :hash, :jobId, :response, :at) "
          + "ON CONFLICT (account_id, idem_key) DO UPDATE SET request_hash = EXCLUDED.request_hash,"
          + " job_id = EXCLUDED.job_id, response = EXCLUDED.response, "
          + "created_at = EXCLUDED.created_at")
  void upsert(String accountId, String key, byte[] hash, String jobId, String response, Instant at);

  @SqlUpdate("DELETE FROM idempotency_keys WHERE created_at < :before")
  int deleteBefore(Instant before);
}
