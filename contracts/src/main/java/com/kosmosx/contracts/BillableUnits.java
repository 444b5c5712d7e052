package com.kosmosx.contracts;

/**
 * The per-request minimum from the price list: a text request bills at least 100 tokens, an image
 * request at least one image. Pure functions; money is computed from these units elsewhere.
 */
public final class BillableUnits {
  public static final int MIN_TOKENS_PER_REQUEST = 100;
  public static final int MIN_IMAGES_PER_REQUEST = 1;

  private BillableUnits() {}

  public static long tokens(UsageEvent e) {
    if (e.product() != JobType.TEXT) {
      return 0;
    }
    return Math.max(MIN_TOKENS_PER_REQUEST, (long) e.inputTokens() + e.outputTokens());
  }

  public static long images(UsageEvent e) {
    if (e.product() != JobType.IMAGE) {
      return 0;
    }
    return Math.max(MIN_IMAGES_PER_REQUEST, e.images());
  }
}
