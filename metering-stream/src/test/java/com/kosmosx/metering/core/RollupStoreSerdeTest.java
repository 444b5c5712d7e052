package com.kosmosx.metering.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.kosmosx.contracts.AccountPlan;
import com.kosmosx.contracts.JobType;
import com.kosmosx.contracts.PriceList;
import com.kosmosx.contracts.UsageEvent;
import com.kosmosx.contracts.UsageRollup;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.LocalDate;
import org.apache.kafka.common.errors.SerializationException;
import org.junit.jupiter.api.Test;

class RollupStoreSerdeTest {
  private final RollupStoreSerde serde = new RollupStoreSerde();

  private UsageRollup roundTrip(UsageRollup r) {
    return serde.deserializer().deserialize("t", serde.serializer().serialize("t", r));
  }

  @Test
  void keepsEveryFieldExactlyIncludingDecimalScale() {
    Instant start = Instant.parse("2026-11-01T00:00:00Z");
    UsageRollup r =
        UsageRollup.empty(
                "acc_ü",
                JobType.IMAGE,
                UsageRollup.Period.MONTH,
                start,
                AccountPlan.PlanKind.DEDICATED,
                true)
            .add(
                new UsageEvent("j1", "acc_ü", JobType.IMAGE, 10, 20, 3, true, start),
                PriceList.SEED);
    UsageRollup back = roundTrip(r);
    assertThat(back).isEqualTo(r);
    // Equal scale too, not just equal value: 0.50 stays 0.50 in reports.
    assertThat(back.paygAmount().scale()).isEqualTo(r.paygAmount().scale());
    UsageRollup big =
        new UsageRollup(
            "a",
            JobType.TEXT,
            LocalDate.of(2026, 1, 1),
            Long.MAX_VALUE,
            1,
            2,
            3,
            4,
            5,
            UsageRollup.Period.HOUR,
            Instant.ofEpochSecond(1, 999),
            AccountPlan.PlanKind.PAYG,
            false,
            new BigDecimal("-123456789012345678901234567890.000001"),
            6,
            new BigDecimal("1E+3"),
            7,
            8,
            9,
            new BigDecimal("0.0002"));
    assertThat(roundTrip(big)).isEqualTo(big);
  }

  @Test
  void keepsNullsOfTheLegacyDayRollup() {
    UsageRollup legacy =
        new UsageRollup(
            "a", null, null, 1, 0, 0, 0, 0, 0, null, null, null, false, null, 0, null, 0, 0, 0,
            null);
    assertThat(roundTrip(legacy)).isEqualTo(legacy);
  }

  @Test
  void refusesAValueOfAnotherFormatInsteadOfMisreadingIt() {
    byte[] json = "{\"accountId\":\"a\"}".getBytes(StandardCharsets.UTF_8);
    assertThatThrownBy(() -> serde.deserializer().deserialize("t", json))
        .isInstanceOf(SerializationException.class)
        .hasMessageContaining("format");
    assertThatThrownBy(() -> serde.deserializer().deserialize("t", new byte[] {1, 0}))
        .isInstanceOf(SerializationException.class);
  }
}
