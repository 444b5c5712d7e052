package com.kosmosx.contracts;

import java.time.LocalDate;

/**
 * Cumulative usage of one account and product on one UTC day, as kept by metering-stream. Key:
 * {@link #key()}; the topic is compacted, so the latest value per key is the day's total.
 */
public record UsageRollup(
    String accountId,
    JobType product,
    LocalDate day,
    long requests,
    long inputTokens,
    long outputTokens,
    long billableTokens,
    long images,
    long billableImages) {

  public static UsageRollup empty(String accountId, JobType product, LocalDate day) {
    return new UsageRollup(accountId, product, day, 0, 0, 0, 0, 0, 0);
  }

  public String key() {
    return key(accountId, product, day);
  }

  public static String key(String accountId, JobType product, LocalDate day) {
    return accountId + "|" + product.wire() + "|" + day;
  }

  /** Adds one usage event, applying the per-request minimum through {@link BillableUnits}. */
  public UsageRollup add(UsageEvent e) {
    return new UsageRollup(
        accountId,
        product,
        day,
        requests + 1,
        inputTokens + e.inputTokens(),
        outputTokens + e.outputTokens(),
        billableTokens + BillableUnits.tokens(e),
        images + e.images(),
        billableImages + BillableUnits.images(e));
  }
}
