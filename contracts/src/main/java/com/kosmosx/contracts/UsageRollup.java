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
 * is the period's total. An adjustment rollup holds events that arrived after their own period's
 * grace ended: they are billed in the period they arrived in, never dropped.
 *
 * @param day the period's first day (UTC)
 * @param plan the plan the period's events were billed under (plans change only at month starts)
 * @param paygAmount exact pay-as-you-go amount of the period's events (pay-as-you-go plans)
 * @param detectionImages image jobs that asked for object detection
 * @param detectionAmount exact detection surcharge
 * @param dedicatedUnits billable units under a dedicated plan
 * @param allowanceUsed month rollups of dedicated plans: units inside the allowance
 * @param overageUnits month rollups of dedicated plans (and dedicated adjustments): units past it
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

  /** Adds one usage event under this rollup's plan, applying the per-request minimum. */
  public UsageRollup add(UsageEvent e, PriceList prices) {
    long tokens = BillableUnits.tokens(e);
    long imgs = BillableUnits.images(e);
    long units = e.product() == JobType.TEXT ? tokens : imgs;
    PriceList.Product p = prices.product(e.product());
    boolean detection = e.product() == JobType.IMAGE && e.objectDetection();
    BigDecimal payg = paygAmount;
    long dedicated = dedicatedUnits;
    long used = allowanceUsed;
    long over = overageUnits;
    BigDecimal overAmount = overageAmount;
    if (plan == AccountPlan.PlanKind.PAYG) {
      payg = payg.add(Billing.paygAmount(p, units));
    } else {
      dedicated += units;
      if (adjustment) {
        // Late usage of a closed month: billed now as overage; no allowance is reopened.
        over += units;
        overAmount = Billing.overageAmount(p, over);
      } else if (period == Period.MONTH) {
        Billing.Overage o = Billing.overage(p, dedicated);
        used = o.allowanceUsed();
        over = o.overageUnits();
        overAmount = o.overageAmount();
      }
    }
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
        payg,
        detectionImages + (detection ? 1 : 0),
        detectionAmount.add(detection ? prices.detectionSurchargePerImage() : BigDecimal.ZERO),
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
