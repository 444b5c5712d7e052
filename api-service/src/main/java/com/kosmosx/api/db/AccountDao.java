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
}
