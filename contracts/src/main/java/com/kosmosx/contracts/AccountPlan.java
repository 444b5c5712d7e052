package com.kosmosx.contracts;

import java.time.Instant;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The billing plans of an account, published to the compacted accounts topic whenever they change.
 * Key: the account id. It carries the whole schedule (every plan change with the first day it
 * applies), so a consumer can tell the plan in force at any event's time: metering bills by it, the
 * API routes dedicated accounts to their lane by it.
 *
 * <p>Plans change on the first day of a calendar month (UTC) and hold for whole months: no
 * proration.
 *
 * @param plans the plan per product in force at {@code updatedAt} (for readers that need no
 *     history)
 * @param lane the dedicated lane in force at {@code updatedAt}, or null
 * @param schedule every change, oldest first; empty means pay-as-you-go throughout
 */
public record AccountPlan(
    String accountId,
    Map<JobType, PlanKind> plans,
    String lane,
    Instant updatedAt,
    List<Change> schedule) {

  public AccountPlan {
    Objects.requireNonNull(accountId, "accountId");
    plans = plans == null ? Map.of() : Map.copyOf(plans);
    List<Change> sorted = new ArrayList<>(schedule == null ? List.of() : schedule);
    sorted.sort(Comparator.comparing(Change::effectiveFrom));
    schedule = List.copyOf(sorted);
  }

  public AccountPlan(
      String accountId, Map<JobType, PlanKind> plans, String lane, Instant updatedAt) {
    this(accountId, plans, lane, updatedAt, List.of());
  }

  /** Pay-as-you-go or dedicated capacity (monthly fee with an allowance). */
  public enum PlanKind {
    PAYG,
    DEDICATED
  }

  /**
   * From {@code effectiveFrom} (a first of the month, UTC) on, {@code product} is billed under
   * {@code plan}; dedicated plans name the lane their jobs run on.
   */
  public record Change(JobType product, PlanKind plan, String lane, LocalDate effectiveFrom) {}

  public PlanKind planFor(JobType product) {
    return plans.getOrDefault(product, PlanKind.PAYG);
  }

  /** The change in force for {@code product} on {@code day}, or null (pay-as-you-go). */
  public Change inForce(JobType product, LocalDate day) {
    Change found = null;
    for (Change c : schedule) {
      if (c.product() == product && !c.effectiveFrom().isAfter(day)) {
        found = c;
      }
    }
    return found;
  }

  /** The plan for {@code product} on {@code day}. */
  public PlanKind planOn(JobType product, LocalDate day) {
    Change c = inForce(product, day);
    return c == null ? PlanKind.PAYG : c.plan();
  }
}
