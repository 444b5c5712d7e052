package com.kosmosx.contracts;

import java.math.BigDecimal;
import java.math.RoundingMode;

/**
 * Pay-as-you-go prices (USD). Exact decimal arithmetic only; a job's cost is shown to six decimal
 * places and rounded to the cent once, on the invoice line.
 *
 * @param textPerThousandTokens price of 1,000 billable tokens
 * @param imagePerImage price of one billable image
 * @param objectDetectionPerImage surcharge per image with object detection (default 0)
 */
public record PriceBook(
    BigDecimal textPerThousandTokens,
    BigDecimal imagePerImage,
    BigDecimal objectDetectionPerImage) {

  /** The seed price list: $0.20 per 1,000 tokens, $0.50 per image. */
  public static final PriceBook DEFAULT =
      new PriceBook(new BigDecimal("0.20"), new BigDecimal("0.50"), BigDecimal.ZERO);

  public BigDecimal payAsYouGoCost(
      JobType product, long billableTokens, long billableImages, boolean detection) {
    BigDecimal cost =
        switch (product) {
          case TEXT ->
              textPerThousandTokens
                  .multiply(BigDecimal.valueOf(billableTokens))
                  .divide(BigDecimal.valueOf(1000));
          case IMAGE ->
              imagePerImage
                  .add(detection ? objectDetectionPerImage : BigDecimal.ZERO)
                  .multiply(BigDecimal.valueOf(billableImages));
        };
    return cost.setScale(6, RoundingMode.HALF_UP);
  }
}
