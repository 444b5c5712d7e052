package com.kosmosx.contracts;

import java.time.Instant;
import java.util.Objects;

/**
 * What one succeeded job consumed. Key: the account id (so one account's usage is ordered on one
 * partition). {@code eventId} is the job id: metering deduplicates by it, so a job is billed once.
 */
public record UsageEvent(
    String eventId,
    String accountId,
    JobType product,
    int inputTokens,
    int outputTokens,
    int images,
    boolean objectDetection,
    Instant occurredAt) {

  public UsageEvent {
    Objects.requireNonNull(eventId, "eventId");
    Objects.requireNonNull(accountId, "accountId");
    Objects.requireNonNull(product, "product");
    Objects.requireNonNull(occurredAt, "occurredAt");
    if (inputTokens < 0 || outputTokens < 0 || images < 0) {
      throw new IllegalArgumentException("negative usage in event " + eventId);
    }
  }
}
