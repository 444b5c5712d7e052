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

  @SqlQuery(
      "SELECT id, name, prefix, created_at, last_used_at, expires_at, revoked_at FROM api_keys "
          + "WHERE account_id = :accountId ORDER BY created_at DESC, id DESC")
  @org.jdbi.v3.sqlobject.config.RegisterConstructorMapper(KeyListRow.class)
  java.util.List<KeyListRow> list(String accountId);

  /** Revokes one key of the account; 0 if it is not the account's or already revoked. */
  @SqlUpdate(
      "UPDATE api_keys SET revoked_at = :at "
          + "WHERE id = :id AND account_id = :accountId AND revoked_at IS NULL")
  int revoke(String id, String accountId, Instant at);

  @SqlUpdate(
      "UPDATE api_keys SET revoked_at = :at WHERE account_id = :accountId AND revoked_at IS NULL")
  int revokeAll(String accountId, Instant at);

  /**
   * Rotation: every other live key of the account stops working at {@code until} (now, or after the
   * grace period); a key that already expires sooner keeps its earlier expiry.
   */
  @SqlUpdate(
      "UPDATE api_keys SET expires_at = LEAST(COALESCE(expires_at, :until), :until) "
          + "WHERE account_id = :accountId AND id <> :keepId AND revoked_at IS NULL")
  int expireOthers(String accountId, String keepId, Instant until);

  @org.jdbi.v3.sqlobject.statement.SqlBatch(
      "UPDATE api_keys SET last_used_at = GREATEST(COALESCE(last_used_at, :at), :at) WHERE id = :id")
  void touch(
      @org.jdbi.v3.sqlobject.customizer.Bind("id") Iterable<String> ids,
      @org.jdbi.v3.sqlobject.customizer.Bind("at") Iterable<Instant> at);

  /** A key as the list shows it: never the key or its hash. */
  record KeyListRow(
      String id,
      String name,
      String prefix,
      java.time.OffsetDateTime createdAt,
      java.time.OffsetDateTime lastUsedAt,
      java.time.OffsetDateTime expiresAt,
      java.time.OffsetDateTime revokedAt) {}

  /** Row shape for {@link #findActiveRow}. */
  record KeyRow(String keyId, String accountId, String role, Timestamp expiresAt) {}

  /** Locks the account row so concurrent key creations count one after another. */
  @SqlQuery("SELECT id FROM accounts WHERE id = :accountId FOR UPDATE")
  java.util.Optional<String> lockAccount(String accountId);

  /** Keys that work now or will until they expire. */
  @SqlQuery(
      "SELECT count(*) FROM api_keys WHERE account_id = :accountId AND revoked_at IS NULL"
          + " AND (expires_at IS NULL OR expires_at > :now)")
  int countLive(String accountId, Instant now);
}
