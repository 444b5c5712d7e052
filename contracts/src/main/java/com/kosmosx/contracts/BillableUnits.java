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

  /**
   * Whether a job is billed: a succeeded job always; a job canceled while it ran, for the work it
   * did before the cancel (its prompt and the tokens generated so far, with the per-request
   * minimum), as OpenAI and Replicate bill; a job canceled before it started, a failed job or an
   * expired one never.
   *
   * @param status the job's final status (wire form)
   * @param usageMeasured whether the worker reported usage for it
   */
  public static boolean billed(String status, boolean usageMeasured) {
    return "succeeded".equals(status) || ("canceled".equals(status) && usageMeasured);
  }

  /**
   * Whether an image job owes the detection surcharge: it asked for object detection (the default
   * for image jobs; {@code detect_objects: false} turns it off). Text jobs never do.
   */
  public static boolean detection(JobType product, Boolean detectObjects) {
    return product == JobType.IMAGE && !Boolean.FALSE.equals(detectObjects);
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
