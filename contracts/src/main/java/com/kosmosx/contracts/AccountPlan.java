package com.kosmosx.contracts;

import java.time.Instant;
import java.util.Map;
import java.util.Objects;

/**
 * The billing plan of an account per product, published to the compacted accounts topic whenever it
 * changes. Key: the account id. Metering joins usage against it; the API routes dedicated accounts
 * to their lane.
 */
public record AccountPlan(
    String accountId, Map<JobType, PlanKind> plans, String lane, Instant updatedAt) {

  public AccountPlan {
    Objects.requireNonNull(accountId, "accountId");
    plans = plans == null ? Map.of() : Map.copyOf(plans);
  }

  /** Pay-as-you-go or dedicated capacity (monthly fee with an allowance). */
  public enum PlanKind {
    PAYG,
    DEDICATED
  }

  public PlanKind planFor(JobType product) {
    return plans.getOrDefault(product, PlanKind.PAYG);
  }
}
