package com.kosmosx.api.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.time.Instant;

/** A freshly issued key: the only answer that ever contains the key itself. */
@JsonInclude(JsonInclude.Include.ALWAYS)
public record NewApiKey(
    String id, String name, String key, String prefix, Instant createdAt, Instant expiresAt) {}
