package com.kosmosx.contracts;

import java.math.BigDecimal;
import java.util.Objects;

/**
 * The price list, as configuration (the seed's figures by default). Rates are exact decimals per
 * {@code unitsPerRate} units; {@code unitsPerRate} is a power of ten, so every amount is an exact
 * decimal and nothing is rounded before the invoice line.
 *
 * @param text prices of text jobs (units: billable tokens)
 * @param image prices of image jobs (units: billable images)
 * @param detectionSurchargePerImage added for each image job with object detection, on either plan
 *     (the seed names it without a figure: default 0)
 */
public record PriceList(Product text, Product image, BigDecimal detectionSurchargePerImage) {

  /**
   * One product's prices.
   *
   * @param paygRate pay-as-you-go price of {@code unitsPerRate} units
   * @param unitsPerRate 1,000 for tokens, 1 for images
   * @param dedicatedMonthlyFee the dedicated plan's fee per calendar month
   * @param dedicatedAllowance units included in the fee each month
   * @param overageRate price of {@code unitsPerRate} units past the allowance
   */
  public record Product(
      BigDecimal paygRate,
      long unitsPerRate,
      BigDecimal dedicatedMonthlyFee,
      long dedicatedAllowance,
      BigDecimal overageRate) {
    public Product {
      Objects.requireNonNull(paygRate);
      Objects.requireNonNull(dedicatedMonthlyFee);
      Objects.requireNonNull(overageRate);
      if (unitsPerRate < 1 || !isPowerOfTen(unitsPerRate)) {
        throw new IllegalArgumentException("unitsPerRate must be 1, 10, 100, ...: " + unitsPerRate);
      }
      if (paygRate.signum() < 0
          || dedicatedMonthlyFee.signum() < 0
          || overageRate.signum() < 0
          || dedicatedAllowance < 0) {
        throw new IllegalArgumentException("prices and allowances are not negative");
      }
    }

    private static boolean isPowerOfTen(long n) {
      while (n % 10 == 0) {
        n /= 10;
      }
      return n == 1;
    }
  }

  public PriceList {
    Objects.requireNonNull(text);
    Objects.requireNonNull(image);
    detectionSurchargePerImage =
        detectionSurchargePerImage == null ? BigDecimal.ZERO : detectionSurchargePerImage;
  }

  /**
   * The seed: text $0.20 per 1,000 tokens, dedicated $150,000 a month with 50,000,000 tokens; image
   * $0.50 per image, dedicated $200,000 a month with 1,000,000 images; overage at the pay-as-you-go
   * rate; no detection surcharge.
   */
  public static final PriceList SEED =
      new PriceList(
          new Product(
              new BigDecimal("0.20"),
              1_000,
              new BigDecimal("150000"),
              50_000_000L,
              new BigDecimal("0.20")),
          new Product(
              new BigDecimal("0.50"),
              1,
              new BigDecimal("200000"),
              1_000_000L,
              new BigDecimal("0.50")),
          BigDecimal.ZERO);

  public Product product(JobType type) {
    return type == JobType.TEXT ? text : image;
  }
}
