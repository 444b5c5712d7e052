package com.kosmosx.api.api;

/** {@code POST /v1/api-keys/rotate}: how long older keys keep working (default 0). */
public record RotateKeyRequest(Long graceSeconds) {}
