package com.kosmosx.contracts;

import static org.assertj.core.api.Assertions.assertThat;

import java.math.BigDecimal;
import org.junit.jupiter.api.Test;

class PriceBookTest {
  @Test
  void textCostsTwentyCentsPerThousandBillableTokensExactly() {
    assertThat(PriceBook.DEFAULT.payAsYouGoCost(JobType.TEXT, 100, 0, false))
        .isEqualTo(new BigDecimal("0.020000"));
    assertThat(PriceBook.DEFAULT.payAsYouGoCost(JobType.TEXT, 1, 0, false))
        .isEqualTo(new BigDecimal("0.000200"));
    assertThat(PriceBook.DEFAULT.payAsYouGoCost(JobType.TEXT, 20_000, 0, false))
        .isEqualTo(new BigDecimal("4.000000"));
  }

  @Test
  void imagesCostFiftyCentsPlusTheDetectionSurcharge() {
    var book =
        new PriceBook(new BigDecimal("0.20"), new BigDecimal("0.50"), new BigDecimal("0.05"));
    assertThat(book.payAsYouGoCost(JobType.IMAGE, 0, 1, false))
        .isEqualTo(new BigDecimal("0.500000"));
    assertThat(book.payAsYouGoCost(JobType.IMAGE, 0, 2, true))
        .isEqualTo(new BigDecimal("1.100000"));
  }
}
