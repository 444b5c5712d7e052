package com.kosmosx.api.db;

import com.kosmosx.api.auth.Caller;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.Locale;
import java.util.Optional;
import org.jdbi.v3.sqlobject.statement.SqlQuery;
import org.jdbi.v3.sqlobject.statement.SqlUpdate;

/** API key rows. Keys are looked up by their SHA-256 only. */
public interface ApiKeyDao {

  @SqlUpdate(
      "INSERT INTO api_keys (id, account_id, name, prefix, key_hash, created_at, expires_at) "
          + "VALUES (:id, :accountId, :name, :prefix, :hash, :createdAt, :expiresAt)")
  void insert(
      String id,
      String accountId,
      String name,
      String prefix,
      byte[] hash,
      Instant createdAt,
      Instant expiresAt);

  /** The caller for an active key of a live account; expiry is checked by the caller's clock. */
  default Optional<Caller> findActive(byte[] hash) {
    return findActiveRow(hash)
        .map(
            r ->
                new Caller(
                    r.accountId(),
                    r.keyId(),
                    Caller.Role.valueOf(r.role().toUpperCase(Locale.ROOT)),
                    r.expiresAt() == null ? null : r.expiresAt().toInstant()));
  }

  @SqlQuery(
      "SELECT k.id AS key_id, k.account_id, a.role, k.expires_at FROM api_keys k "
          + "JOIN accounts a ON a.id = k.account_id "
          + "WHERE k.key_hash = :hash AND k.revoked_at IS NULL AND a.deleted_at IS NULL")
  @org.jdbi.v3.sqlobject.config.RegisterConstructorMapper(KeyRow.class)
  Optional<KeyRow> findActiveRow(byte[] hash);

  /** Row shape for {@link #findActiveRow}. */
  record KeyRow(String keyId, String accountId, String role, Timestamp expiresAt) {}
}
