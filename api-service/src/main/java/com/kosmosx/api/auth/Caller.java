package com.kosmosx.api.auth;

import java.security.Principal;
import java.time.Instant;

/** Who is calling: the account behind a valid API key, with its role. */
public record Caller(String accountId, String keyId, Role role, Instant keyExpiresAt)
    implements Principal {

  @Override
  public String getName() {
    return accountId;
  }

  /** Roles from API.md: finance reads all usage and invoices; admin manages plans and roles. */
  public enum Role {
    USER,
    FINANCE,
    ADMIN
  }
}
