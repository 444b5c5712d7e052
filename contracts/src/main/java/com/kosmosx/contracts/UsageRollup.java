package com.kosmosx.contracts;

import java.math.BigDecimal;
import java.time.Instant;
import java.time.LocalDate;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;

/**
 * Cumulative usage of one account and product in one period (a UTC hour, day or calendar month), as
 * kept by metering-stream. Key: {@link #key()}; the topic is compacted, so the latest value per key
 * is the period's total. A period's rollup stays open for good: an event that arrives late (even
 * weeks late) is added to its own period. Whether that usage was already invoiced is the invoice's
 * concern: a closed month's later usage is billed as an adjustment in the next open month (see the
 * API's BillingService). {@code adjustment} is true only on rollups written by older versions,
 * which billed very late events in the period they arrived in.
 *
 * @param day the period's first day (UTC)
 * @param plan the period's plan under the account's schedule as metering knows it (plans change
 *     only at month starts; a change that reaches metering later re-prices the period)
 * @param paygAmount exact pay-as-you-go amount of the period's events (pay-as-you-go plans)
 * @param detectionImages image jobs that asked for object detection
 * @param detectionAmount exact detection surcharge
 * @param dedicatedUnits billable units under a dedicated plan
 * @param allowanceUsed month rollups of dedicated plans: units inside the allowance
 * @param overageUnits month rollups of dedicated plans units past it
 * @param overageAmount exact price of the overage units
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
    long billableImages,
    Period period,
    Instant periodStart,
    AccountPlan.PlanKind plan,
    boolean adjustment,
    BigDecimal paygAmount,
    long detectionImages,
    BigDecimal detectionAmount,
    long dedicatedUnits,
    long allowanceUsed,
    long overageUnits,
    BigDecimal overageAmount) {

  /** The period granularities. */
  public enum Period {
    HOUR,
    DAY,
    MONTH;

    public Instant start(Instant t) {
      return switch (this) {
        case HOUR -> t.truncatedTo(ChronoUnit.HOURS);
        case DAY -> t.truncatedTo(ChronoUnit.DAYS);
        case MONTH ->
            YearMonth.from(t.atZone(ZoneOffset.UTC))
                .atDay(1)
                .atStartOfDay(ZoneOffset.UTC)
                .toInstant();
      };
    }

    public Instant end(Instant start) {
      return switch (this) {
        case HOUR -> start.plus(1, ChronoUnit.HOURS);
        case DAY -> start.plus(1, ChronoUnit.DAYS);
        case MONTH -> start.atZone(ZoneOffset.UTC).plusMonths(1).toInstant();
      };
    }

    public String wire() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  public UsageRollup {
    period = period == null ? Period.DAY : period;
    plan = plan == null ? AccountPlan.PlanKind.PAYG : plan;
    paygAmount = paygAmount == null ? BigDecimal.ZERO : paygAmount;
    detectionAmount = detectionAmount == null ? BigDecimal.ZERO : detectionAmount;
    overageAmount = overageAmount == null ? BigDecimal.ZERO : overageAmount;
    if (periodStart == null && day != null) {
      periodStart = day.atStartOfDay(ZoneOffset.UTC).toInstant();
    }
  }

  /** A daily rollup without billing detail (readers that predate periods). */
  public UsageRollup(
      String accountId,
      JobType product,
      LocalDate day,
      long requests,
      long inputTokens,
      long outputTokens,
      long billableTokens,
      long images,
      long billableImages) {
    this(
        accountId,
        product,
        day,
        requests,
        inputTokens,
        outputTokens,
        billableTokens,
        images,
        billableImages,
        Period.DAY,
        null,
        null,
        false,
        null,
        0,
        null,
        0,
        0,
        0,
        null);
  }

  public static UsageRollup empty(
      String accountId,
      JobType product,
      Period period,
      Instant periodStart,
      AccountPlan.PlanKind plan,
      boolean adjustment) {
    return new UsageRollup(
        accountId,
        product,
        LocalDate.ofInstant(periodStart, ZoneOffset.UTC),
        0,
        0,
        0,
        0,
        0,
        0,
        period,
        periodStart,
        plan,
        adjustment,
        BigDecimal.ZERO,
        0,
        BigDecimal.ZERO,
        0,
        0,
        0,
        BigDecimal.ZERO);
  }

  public static UsageRollup empty(String accountId, JobType product, LocalDate day) {
    return empty(
        accountId, product, Period.DAY, day.atStartOfDay(ZoneOffset.UTC).toInstant(), null, false);
  }

  public String key() {
    return adjustment
        ? adjustmentKey(accountId, product, period, periodStart, plan)
        : key(accountId, product, period, periodStart);
  }

  /** {@code account|product|period|start}, e.g. {@code acc_1|text|month|2026-11-01T00:00:00Z}. */
  public static String key(String accountId, JobType product, Period period, Instant start) {
    return accountId + "|" + product.wire() + "|" + period.wire() + "|" + start;
  }

  /** The key of late events billed in {@code start}'s period under {@code plan}. */
  public static String adjustmentKey(
      String accountId, JobType product, Period period, Instant start, AccountPlan.PlanKind plan) {
    return key(accountId, product, period, start)
        + "|adjustment-"
        + plan.name().toLowerCase(java.util.Locale.ROOT);
  }

  /** The legacy daily key. */
  public static String key(String accountId, JobType product, LocalDate day) {
    return key(accountId, product, Period.DAY, day.atStartOfDay(ZoneOffset.UTC).toInstant());
  }

  /** The units billed: tokens for text, images for image jobs. */
  public long billableUnits() {
    return product == JobType.TEXT ? billableTokens : billableImages;
  }

  /** What the period costs so far, exact: usage (or overage) plus detection; the fee excluded. */
  public BigDecimal amount() {
    return paygAmount.add(overageAmount).add(detectionAmount);
  }

  /**
   * Adds one usage event, applying the per-request minimum, and prices the new totals under this
   * rollup's plan.
   */
  public UsageRollup add(UsageEvent e, PriceList prices) {
    long tokens = BillableUnits.tokens(e);
    long imgs = BillableUnits.images(e);
    boolean detection = e.product() == JobType.IMAGE && e.objectDetection();
    return new UsageRollup(
            accountId,
            product,
            day,
            requests + 1,
            inputTokens + e.inputTokens(),
            outputTokens + e.outputTokens(),
            billableTokens + tokens,
            images + e.images(),
            billableImages + imgs,
            period,
            periodStart,
            plan,
            adjustment,
            null,
            detectionImages + (detection ? 1 : 0),
            null,
            0,
            0,
            0,
            null)
        .priced(plan, prices);
  }

  /**
   * The same usage priced under {@code newPlan}: every amount is a pure function of the period's
   * units, its plan and the price list ({@link Billing}), so a month whose plan changed after some
   * of its usage was metered is re-priced exactly, and a rollup never depends on the order its
   * events and the plan change arrived in. Pay-as-you-go: units x rate. Dedicated: month rollups
   * split the units between the allowance and overage; hour and day rollups carry units only (the
   * allowance and the fee are monthly).
   */
  public UsageRollup priced(AccountPlan.PlanKind newPlan, PriceList prices) {
    PriceList.Product p = prices.product(product);
    long units = billableUnits();
    BigDecimal payg = BigDecimal.ZERO;
    long dedicated = 0;
    long used = 0;
    long over = 0;
    BigDecimal overAmount = BigDecimal.ZERO;
    if (newPlan == AccountPlan.PlanKind.PAYG) {
      payg = Billing.paygAmount(p, units);
    } else {
      dedicated = units;
      if (period == Period.MONTH) {
        Billing.Overage o = Billing.overage(p, units);
        used = o.allowanceUsed();
        over = o.overageUnits();
        overAmount = o.overageAmount();
      }
    }
    return new UsageRollup(
        accountId,
        product,
        day,
        requests,
        inputTokens,
        outputTokens,
        billableTokens,
        images,
        billableImages,
        period,
        periodStart,
        newPlan,
        adjustment,
        payg,
        detectionImages,
        Billing.detectionAmount(prices, detectionImages),
        dedicated,
        used,
        over,
        overAmount);
  }

  /** Adds one event at the seed prices (tests and readers without a price list). */
  public UsageRollup add(UsageEvent e) {
    return add(e, PriceList.SEED);
  }
}
