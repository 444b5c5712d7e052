package com.kosmosx.api.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.JsonNode;
import java.time.OffsetDateTime;

/** The job object of API.md. Absent values are explicit nulls, as clients expect a fixed shape. */
@JsonInclude(JsonInclude.Include.ALWAYS)
public record JobView(
    String id,
    String type,
    String status,
    OffsetDateTime createdAt,
    OffsetDateTime startedAt,
    OffsetDateTime completedAt,
    JsonNode input,
    JsonNode output,
    Usage usage,
    Error error,
    JsonNode metadata,
    JsonNode webhook,
    Urls urls) {

  /** Usage and cost; present once the job succeeded. */
  public record Usage(
      int inputTokens,
      int outputTokens,
      long billableTokens,
      int images,
      long billableImages,
      String costUsd) {}

  /** Why a job failed. */
  public record Error(String code, String message) {}

  /** Where to poll and cancel. */
  public record Urls(String get, String cancel) {}
}
