package com.kosmosx.api.api;

/** Answer to account creation; the only time the first key is shown. */
public record AccountCreated(
    String accountId, String username, NewApiKey apiKey, String webhookSecret) {}
