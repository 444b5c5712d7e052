package com.kosmosx.contracts;

/**
 * The per-request minimum from the price list: a text request bills at least 100 tokens, an image
 * request at least one image. Pure functions; money is computed from these units elsewhere.
 */
public final class BillableUnits {
  public static final int MIN_TOKENS_PER_REQUEST = 100;
  public static final int MIN_IMAGES_PER_REQUEST = 1;

  private BillableUnits() {}

  /**
   * The billable units of one request: a text request's tokens (input + output, at least 100), an
   * image request's images (at least 1). The one place the per-request minimum is applied: usage
   * events (metering), job views and the reconciliation's independent path all come here.
   */
  public static long units(JobType product, long inputTokens, long outputTokens, long images) {
    return product == JobType.TEXT
        ? Math.max(MIN_TOKENS_PER_REQUEST, inputTokens + outputTokens)
        : Math.max(MIN_IMAGES_PER_REQUEST, images);
  }

  public static long tokens(UsageEvent e) {
    return e.product() == JobType.TEXT
        ? units(JobType.TEXT, e.inputTokens(), e.outputTokens(), 0)
        : 0;
  }

  public static long images(UsageEvent e) {
    return e.product() == JobType.IMAGE ? units(JobType.IMAGE, 0, 0, e.images()) : 0;
  }
}
