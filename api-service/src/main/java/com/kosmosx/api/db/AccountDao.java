package com.kosmosx.api.db;

import java.time.Instant;
import org.jdbi.v3.sqlobject.statement.SqlUpdate;

/** Account rows. */
public interface AccountDao {

  @SqlUpdate(
      "INSERT INTO accounts (id, username, email, password_hash, role, webhook_secret, created_at) "
          + "VALUES (:id, :username, :email, :passwordHash, :role, :webhookSecret, :createdAt)")
  void insert(
      String id,
      String username,
      String email,
      String passwordHash,
      String role,
      String webhookSecret,
      Instant createdAt);

  @SqlUpdate(
      "INSERT INTO accounts (id, username, email, password_hash, role, webhook_secret, created_at) "
          + "VALUES (:id, :username, :email, :passwordHash, 'admin', :webhookSecret, :createdAt) "
          + "ON CONFLICT (id) DO NOTHING")
  void insertAdminIfMissing(
      String id,
      String username,
      String email,
      String passwordHash,
      String webhookSecret,
      Instant createdAt);

  @org.jdbi.v3.sqlobject.statement.SqlQuery(
      "SELECT id, username, password_hash, role, webhook_secret FROM accounts "
          + "WHERE username = :username AND deleted_at IS NULL")
  @org.jdbi.v3.sqlobject.config.RegisterConstructorMapper(AccountRow.class)
  java.util.Optional<AccountRow> findByUsername(String username);

  @org.jdbi.v3.sqlobject.statement.SqlQuery(
      "SELECT webhook_secret FROM accounts WHERE id = :id AND deleted_at IS NULL")
  java.util.Optional<String> webhookSecret(String id);

  @SqlUpdate("UPDATE accounts SET role = :role WHERE id = :id AND deleted_at IS NULL")
  int setRole(String id, String role);

  @SqlUpdate("UPDATE accounts SET webhook_secret = :secret WHERE id = :id AND deleted_at IS NULL")
  int setWebhookSecret(String id, String secret);

  /**
   * Closes the account: the username is freed (renamed to a tombstone), the password hash and
   * webhook secret are overwritten; the row stays, because usage and invoices refer to it.
   */
  @SqlUpdate(
      "UPDATE accounts SET deleted_at = :at, username = 'deleted:' || id, email = '', "
          + "password_hash = '!', webhook_secret = '' WHERE id = :id AND deleted_at IS NULL")
  int markDeleted(String id, Instant at);
}
