package com.kosmosx.localstack;

/** A service that cannot start: it reports a bad setting and exits (for SupervisorTest). */
public final class ExitsAtOnce {
  private ExitsAtOnce() {}

  public static void main(String[] args) {
    System.out.println("starting");
    System.err.println("ERROR config.yml has an error:");
    System.err.println("  * rateLimits.jobSubmissionsPerMinute must be greater than or equal to 1");
    System.exit(3);
  }
}
