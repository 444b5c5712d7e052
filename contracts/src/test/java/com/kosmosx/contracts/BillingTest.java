package com.kosmosx.contracts;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.math.BigDecimal;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/** Every billing rule of the price list, on exact figures computed by hand. */
class BillingTest {
  private static final PriceList P = PriceList.SEED;
  private static final Instant T = Instant.parse("2026-11-27T10:15:00Z");

  private static UsageEvent text(int in, int out) {
    return new UsageEvent("job_" + in + "_" + out, "acc", JobType.TEXT, in, out, 0, false, T);
  }

  private static UsageEvent image(boolean detection) {
    return new UsageEvent("job_img", "acc", JobType.IMAGE, 9, 20, 1, detection, T);
  }

  private static BigDecimal usd(String s) {
    return new BigDecimal(s);
  }

  @Test
  void theMinimumIsOneHundredTokensPerRequest() {
    assertThat(BillableUnits.tokens(text(60, 40))).isEqualTo(100); // exactly 100
    assertThat(BillableUnits.tokens(text(60, 39))).isEqualTo(100); // 99 -> 100
    assertThat(BillableUnits.tokens(text(60, 41))).isEqualTo(101); // 101
    assertThat(BillableUnits.tokens(text(7, 0))).isEqualTo(100); // no output at all
    assertThat(Billing.paygAmount(P.text(), 100)).isEqualByComparingTo("0.02");
    assertThat(Billing.paygAmount(P.text(), 101)).isEqualByComparingTo("0.0202");
  }

  @Test
  void anImageJobBillsOneImageAndItsTokensNot() {
    UsageEvent e = image(false);
    assertThat(BillableUnits.images(e)).isEqualTo(1);
    assertThat(BillableUnits.tokens(e)).isZero();
    assertThat(Billing.paygAmount(P.image(), 1)).isEqualByComparingTo("0.50");
    UsageRollup r =
        UsageRollup.empty("acc", JobType.IMAGE, T.atZone(java.time.ZoneOffset.UTC).toLocalDate())
            .add(e);
    assertThat(r.amount()).isEqualByComparingTo("0.50");
  }

  @Test
  void theDetectionSurchargeIsConfigurableAndZeroByDefault() {
    PriceList withSurcharge = new PriceList(P.text(), P.image(), usd("0.05"));
    UsageRollup r =
        UsageRollup.empty("acc", JobType.IMAGE, T.atZone(java.time.ZoneOffset.UTC).toLocalDate())
            .add(image(true), withSurcharge)
            .add(image(false), withSurcharge);
    assertThat(r.detectionImages()).isEqualTo(1);
    assertThat(r.amount()).isEqualByComparingTo("1.05");
    assertThat(Billing.detectionAmount(P, 10)).isEqualByComparingTo("0");
  }

  @Test
  void dedicatedBelowAtAndOverTheAllowance() {
    PriceList.Product t = P.text();
    Billing.Overage under = Billing.overage(t, 49_999_999);
    assertThat(under.allowanceUsed()).isEqualTo(49_999_999);
    assertThat(under.overageUnits()).isZero();
    assertThat(under.overageAmount()).isEqualByComparingTo("0");
    Billing.Overage at = Billing.overage(t, 50_000_000);
    assertThat(at.allowanceUsed()).isEqualTo(50_000_000);
    assertThat(at.overageUnits()).isZero();
    assertThat(at.overageAmount()).isEqualByComparingTo("0");
    Billing.Overage over = Billing.overage(t, 50_001_234);
    assertThat(over.overageUnits()).isEqualTo(1_234);
    assertThat(over.overageAmount()).isEqualByComparingTo("0.2468");

    Billing.InvoiceLine belowLine =
        Billing.invoiceLine(P, JobType.TEXT, AccountPlan.PlanKind.DEDICATED, 10, 0);
    assertThat(belowLine.total()).isEqualByComparingTo("150000.00");
    Billing.InvoiceLine overLine =
        Billing.invoiceLine(P, JobType.TEXT, AccountPlan.PlanKind.DEDICATED, 50_001_234, 0);
    assertThat(overLine.fee()).isEqualByComparingTo("150000.00");
    assertThat(overLine.overageUnits()).isEqualTo(1_234);
    assertThat(overLine.usageAmount()).isEqualByComparingTo("0.25"); // 0.2468 rounded once
    assertThat(overLine.total()).isEqualByComparingTo("150000.25");
    Billing.InvoiceLine images =
        Billing.invoiceLine(P, JobType.IMAGE, AccountPlan.PlanKind.DEDICATED, 1_000_003, 0);
    assertThat(images.total()).isEqualByComparingTo("200001.50");
  }

  @Test
  void amountsAreExactUntilTheInvoiceLineRoundsHalfUpOnce() {
    // 125 tokens cost $0.025 exactly: rounded half-up on the line to $0.03, never per request.
    assertThat(Billing.paygAmount(P.text(), 125)).isEqualByComparingTo("0.025");
    assertThat(Billing.invoiceLine(P, JobType.TEXT, AccountPlan.PlanKind.PAYG, 125, 0).total())
        .isEqualByComparingTo("0.03");
    // Seven requests of 101 tokens: 7 x $0.0202 = $0.1414, one line of $0.14 (rounding each
    // request to the cent first would give 7 x $0.02 = $0.14 too, but 3 x 125 tokens shows it:
    // 3 x $0.03 = $0.09 against the exact $0.075 -> $0.08).
    assertThat(Billing.invoiceLine(P, JobType.TEXT, AccountPlan.PlanKind.PAYG, 707, 0).total())
        .isEqualByComparingTo("0.14");
    assertThat(Billing.invoiceLine(P, JobType.TEXT, AccountPlan.PlanKind.PAYG, 375, 0).total())
        .isEqualByComparingTo("0.08");
    assertThat(Billing.toCents(usd("0.004999"))).isEqualByComparingTo("0.00");
    assertThat(Billing.toCents(usd("0.005"))).isEqualByComparingTo("0.01");
  }

  @Test
  void periodsAreUtcHoursDaysAndCalendarMonths() {
    Instant lastSecond = Instant.parse("2026-11-30T23:59:59.999Z");
    Instant next = Instant.parse("2026-12-01T00:00:00Z");
    assertThat(UsageRollup.Period.MONTH.start(lastSecond))
        .isEqualTo(Instant.parse("2026-11-01T00:00:00Z"));
    assertThat(UsageRollup.Period.MONTH.start(next)).isEqualTo(next);
    assertThat(UsageRollup.Period.MONTH.end(Instant.parse("2026-02-01T00:00:00Z")))
        .isEqualTo(Instant.parse("2026-03-01T00:00:00Z"));
    assertThat(UsageRollup.Period.DAY.start(lastSecond))
        .isEqualTo(Instant.parse("2026-11-30T00:00:00Z"));
    assertThat(UsageRollup.Period.HOUR.start(T)).isEqualTo(Instant.parse("2026-11-27T10:00:00Z"));
  }

  @Test
  void aMonthRollupOfADedicatedPlanTracksTheAllowance() {
    PriceList small =
        new PriceList(
            new PriceList.Product(usd("0.20"), 1_000, usd("100"), 250, usd("0.30")),
            P.image(),
            null);
    UsageRollup m =
        UsageRollup.empty(
            "acc",
            JobType.TEXT,
            UsageRollup.Period.MONTH,
            Instant.parse("2026-11-01T00:00:00Z"),
            AccountPlan.PlanKind.DEDICATED,
            false);
    m = m.add(text(10, 10), small).add(text(100, 50), small);
    assertThat(m.dedicatedUnits()).isEqualTo(250);
    assertThat(m.allowanceUsed()).isEqualTo(250);
    assertThat(m.overageUnits()).isZero();
    m = m.add(text(300, 0), small);
    assertThat(m.overageUnits()).isEqualTo(300);
    assertThat(m.overageAmount()).isEqualByComparingTo("0.09"); // 300 x $0.30 / 1,000
    assertThat(m.paygAmount()).isEqualByComparingTo("0");
  }

  @Test
  void priceListsRefuseNonsense() {
    assertThatThrownBy(() -> new PriceList.Product(usd("0.2"), 300, usd("1"), 1, usd("0.2")))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> new PriceList.Product(usd("-0.2"), 1000, usd("1"), 1, usd("0.2")))
        .isInstanceOf(IllegalArgumentException.class);
  }
}
