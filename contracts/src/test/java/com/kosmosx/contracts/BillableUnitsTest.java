package com.kosmosx.contracts;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import java.time.LocalDate;
import org.junit.jupiter.api.Test;

class BillableUnitsTest {
  private static UsageEvent text(int in, int out) {
    return new UsageEvent(
        "job_" + in + "_" + out, "acc", JobType.TEXT, in, out, 0, false, Instant.EPOCH);
  }

  @Test
  void textRequestsBillAtLeastOneHundredTokens() {
    assertThat(BillableUnits.tokens(text(0, 0))).isEqualTo(100);
    assertThat(BillableUnits.tokens(text(40, 59))).isEqualTo(100);
    assertThat(BillableUnits.tokens(text(40, 60))).isEqualTo(100);
    assertThat(BillableUnits.tokens(text(40, 61))).isEqualTo(101);
    assertThat(BillableUnits.tokens(text(19_000, 1_000))).isEqualTo(20_000);
  }

  @Test
  void imageRequestsBillAtLeastOneImage() {
    var e = new UsageEvent("job_i", "acc", JobType.IMAGE, 80, 20, 0, true, Instant.EPOCH);
    assertThat(BillableUnits.images(e)).isEqualTo(1);
    assertThat(BillableUnits.tokens(e)).isZero();
  }

  @Test
  void rollupAccumulatesRawAndBillableUnits() {
    var day = LocalDate.of(2026, 11, 27);
    var r = UsageRollup.empty("acc", JobType.TEXT, day).add(text(10, 5)).add(text(300, 20));
    assertThat(r.requests()).isEqualTo(2);
    assertThat(r.inputTokens()).isEqualTo(310);
    assertThat(r.outputTokens()).isEqualTo(25);
    assertThat(r.billableTokens()).isEqualTo(100 + 320);
    assertThat(r.key()).isEqualTo("acc|text|day|2026-11-27T00:00:00Z");
  }
}
