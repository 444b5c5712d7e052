package com.kosmosx.contracts;

import java.math.BigDecimal;
import java.math.RoundingMode;

/**
 * The billing rules, as pure functions. Amounts stay exact decimals until the invoice line, where
 * each line is rounded once, half-up, to the cent.
 *
 * <ul>
 *   <li>Billable units per request: {@link BillableUnits} (at least 100 tokens, or 1 image).
 *   <li>Pay-as-you-go: units × rate.
 *   <li>Dedicated: the monthly fee covers the allowance; units past it cost the overage rate.
 *   <li>Object detection: a surcharge per image job that asked for it, on either plan.
 *   <li>Succeeded jobs are billed, and jobs canceled while they ran for the work done before the
 *       cancel ({@link BillableUnits#billed}); only those produce usage events.
 * </ul>
 */
public final class Billing {
  private Billing() {}

  /** Exact pay-as-you-go amount of {@code units} billable units. */
  public static BigDecimal paygAmount(PriceList.Product p, long units) {
    return p.paygRate()
        .multiply(BigDecimal.valueOf(units))
        .divide(BigDecimal.valueOf(p.unitsPerRate()));
  }

  /** Exact detection surcharge of {@code images} image jobs with detection. */
  public static BigDecimal detectionAmount(PriceList prices, long images) {
    return prices.detectionSurchargePerImage().multiply(BigDecimal.valueOf(images));
  }

  /** How a dedicated month's units split between the allowance and overage. */
  public record Overage(long allowanceUsed, long overageUnits, BigDecimal overageAmount) {}

  public static Overage overage(PriceList.Product p, long monthUnits) {
    long used = Math.min(monthUnits, p.dedicatedAllowance());
    long over = Math.max(0, monthUnits - p.dedicatedAllowance());
    return new Overage(used, over, overageAmount(p, over));
  }

  /** Exact price of {@code units} past a dedicated allowance (or billed late, as adjustments). */
  public static BigDecimal overageAmount(PriceList.Product p, long units) {
    return p.overageRate()
        .multiply(BigDecimal.valueOf(units))
        .divide(BigDecimal.valueOf(p.unitsPerRate()));
  }

  /**
   * The exact (unrounded) usage amount of a month's units under {@code plan}: pay-as-you-go units x
   * rate, or a dedicated month's overage past the allowance, plus the detection surcharge; the fee
   * excluded. What metering's month rollup must hold, to the last decimal.
   */
  public static BigDecimal monthUsageAmount(
      PriceList prices,
      JobType product,
      AccountPlan.PlanKind plan,
      long billableUnits,
      long detectionImages) {
    PriceList.Product p = prices.product(product);
    BigDecimal usage =
        plan == AccountPlan.PlanKind.DEDICATED
            ? overage(p, billableUnits).overageAmount()
            : paygAmount(p, billableUnits);
    return usage.add(detectionAmount(prices, detectionImages));
  }

  /** Rounds an invoice line's exact amount once: half-up to the cent. */
  public static BigDecimal toCents(BigDecimal exact) {
    return exact.setScale(2, RoundingMode.HALF_UP);
  }

  /**
   * One invoice line: an account's product for one month under its plan. Dedicated: the fee plus
   * the overage; pay-as-you-go: the usage. The detection surcharge is added either way. Each money
   * figure is rounded once, here.
   */
  public record InvoiceLine(
      AccountPlan.PlanKind plan,
      BigDecimal fee,
      long includedUnits,
      long billableUnits,
      long overageUnits,
      BigDecimal usageAmount,
      BigDecimal detectionAmount,
      BigDecimal total) {}

  public static InvoiceLine invoiceLine(
      PriceList prices,
      JobType product,
      AccountPlan.PlanKind plan,
      long billableUnits,
      long detectionImages) {
    PriceList.Product p = prices.product(product);
    BigDecimal detection = toCents(detectionAmount(prices, detectionImages));
    if (plan == AccountPlan.PlanKind.DEDICATED) {
      Overage o = overage(p, billableUnits);
      BigDecimal fee = toCents(p.dedicatedMonthlyFee());
      BigDecimal usage = toCents(o.overageAmount());
      return new InvoiceLine(
          plan,
          fee,
          p.dedicatedAllowance(),
          billableUnits,
          o.overageUnits(),
          usage,
          detection,
          fee.add(usage).add(detection));
    }
    BigDecimal usage = toCents(paygAmount(p, billableUnits));
    return new InvoiceLine(
        plan,
        BigDecimal.ZERO.setScale(2),
        0,
        billableUnits,
        0,
        usage,
        detection,
        usage.add(detection));
  }
}
