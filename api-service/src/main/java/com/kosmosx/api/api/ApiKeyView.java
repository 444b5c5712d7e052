package com.kosmosx.api.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.time.OffsetDateTime;

/** A key in a list: its prefix, never the key. */
@JsonInclude(JsonInclude.Include.ALWAYS)
public record ApiKeyView(
    String id,
    String name,
    String prefix,
    OffsetDateTime createdAt,
    OffsetDateTime lastUsedAt,
    OffsetDateTime expiresAt,
    OffsetDateTime revokedAt) {}
