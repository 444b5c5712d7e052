package com.kosmosx.api.db;

import java.time.Instant;
import java.util.List;
import org.jdbi.v3.sqlobject.config.RegisterConstructorMapper;
import org.jdbi.v3.sqlobject.customizer.BindList;
import org.jdbi.v3.sqlobject.statement.SqlQuery;
import org.jdbi.v3.sqlobject.statement.SqlUpdate;

/** The transactional outbox. */
public interface OutboxDao {

  @SqlUpdate("INSERT INTO outbox (topic, msg_key, payload) VALUES (:topic, :key, :payload)")
  void insert(String topic, String key, byte[] payload);

  /**
   * Claims the oldest rows that are due (a row Kafka refused waits for its own next attempt); SKIP
   * LOCKED lets several API instances relay side by side without blocking on (or double-sending)
   * each other's rows.
   */
  @SqlQuery(
      "SELECT id, topic, msg_key, payload, attempts, trace_id FROM outbox"
          + " WHERE next_attempt_at IS NULL"
          + " OR next_attempt_at <= :now ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED")
  @RegisterConstructorMapper(OutboxRow.class)
  List<OutboxRow> claim(int limit, Instant now);

  @SqlUpdate("DELETE FROM outbox WHERE id IN (<ids>)")
  int delete(@BindList("ids") List<Long> ids);

  @SqlUpdate(
      "UPDATE outbox SET attempts = :attempts, next_attempt_at = :next, last_error = :error"
          + " WHERE id = :id")
  void retryLater(long id, int attempts, Instant next, String error);

  @SqlQuery("SELECT count(*) FROM outbox")
  long pending();

  /** Seconds since the oldest row still in the outbox was written; 0 when it is empty. */
  @SqlQuery("SELECT COALESCE(EXTRACT(EPOCH FROM (now() - min(created_at)))::float8, 0) FROM outbox")
  double oldestAgeSeconds();

  /** One outbox row. */
  record OutboxRow(
      long id, String topic, String msgKey, byte[] payload, int attempts, String traceId) {}
}
