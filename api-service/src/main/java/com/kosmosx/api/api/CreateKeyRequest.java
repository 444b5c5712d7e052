package com.kosmosx.api.api;

/** {@code POST /v1/api-keys}: an optional name and lifetime. */
public record CreateKeyRequest(String name, Long expiresInSeconds) {}
