package com.kosmosx.api.api;

import java.time.Instant;

/** Answer to account creation; the only time the key is shown. */
public record AccountCreated(
    String accountId, String username, NewApiKey apiKey, String webhookSecret) {

  /** A freshly issued key. */
  public record NewApiKey(String id, String key, String prefix, Instant createdAt) {}
}
