package com.kosmosx.api.db;

import java.time.OffsetDateTime;

/** A row of the jobs table, the API's projection of the job-events topic. */
public record JobRow(
    String id,
    String accountId,
    String type,
    String status,
    String lane,
    String input,
    String output,
    String metadata,
    String webhook,
    Integer inputTokens,
    Integer outputTokens,
    Integer images,
    String errorCode,
    String errorMessage,
    OffsetDateTime createdAt,
    OffsetDateTime startedAt,
    OffsetDateTime completedAt) {

  public boolean terminal() {
    return status.equals("succeeded") || status.equals("failed") || status.equals("canceled");
  }
}
