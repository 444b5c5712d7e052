package com.kosmosx.api.errors;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A client-facing error, rendered as RFC 9457 problem+json with a stable {@code code}. Thrown by
 * resources and services; {@link ApiProblemMapper} turns it into the response. The detail must be
 * safe to show: no SQL, no stack, no secrets.
 */
public final class ApiProblem extends RuntimeException {
  private final int status;
  private final String code;
  private final String title;
  private final Map<String, Object> extensions;
  private final Map<String, String> headers = new LinkedHashMap<>();

  public ApiProblem(int status, String code, String title, String detail) {
    this(status, code, title, detail, Map.of());
  }

  public ApiProblem(
      int status, String code, String title, String detail, Map<String, Object> extensions) {
    super(detail, null, false, false);
    this.status = status;
    this.code = code;
    this.title = title;
    this.extensions = new LinkedHashMap<>(extensions);
  }

  /** Adds a response header (e.g. {@code Retry-After}). */
  public ApiProblem withHeader(String name, String value) {
    headers.put(name, value);
    return this;
  }

  public Map<String, String> headers() {
    return headers;
  }

  /** 429 with an integer {@code Retry-After}. */
  public static ApiProblem tooMany(String code, String detail, long retryAfterSeconds) {
    com.kosmosx.api.observability.ApiMetrics.REFUSALS.labelValues(code).inc();
    return new ApiProblem(
            429,
            code,
            code.equals("rate_limited") ? "Rate limited" : "Too many pending jobs",
            detail,
            Map.of("retry_after_seconds", retryAfterSeconds))
        .withHeader("Retry-After", Long.toString(retryAfterSeconds));
  }

  public static ApiProblem validation(String detail) {
    return new ApiProblem(400, "validation_failed", "Validation failed", detail);
  }

  public static ApiProblem validation(String detail, String field) {
    return new ApiProblem(
        400, "validation_failed", "Validation failed", detail, Map.of("field", field));
  }

  public static ApiProblem invalidApiKey() {
    return new ApiProblem(
        401,
        "invalid_api_key",
        "Invalid API key",
        "Provide a valid API key in 'Authorization: Bearer <key>' or 'X-API-Key'.");
  }

  public static ApiProblem notFound(String what) {
    return new ApiProblem(404, "not_found", "Not found", what + " was not found.");
  }

  public static ApiProblem conflict(String detail) {
    return new ApiProblem(409, "conflict", "Conflict", detail);
  }

  public static ApiProblem unavailable(String detail) {
    return new ApiProblem(503, "unavailable", "Service unavailable", detail);
  }

  public int status() {
    return status;
  }

  public String code() {
    return code;
  }

  public String title() {
    return title;
  }

  public Map<String, Object> extensions() {
    return extensions;
  }
}
