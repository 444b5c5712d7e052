package com.kosmosx.worker.core;

import com.kosmosx.contracts.JobEvent;

/** The result of running one job: succeeded with output and usage, or failed with an error. */
public record JobOutcome(JobEvent.Output output, JobEvent.Usage usage, JobEvent.Error error) {

  public static JobOutcome succeeded(JobEvent.Output output, JobEvent.Usage usage) {
    return new JobOutcome(output, usage, null);
  }

  public static JobOutcome failed(String code, String message) {
    return new JobOutcome(null, null, new JobEvent.Error(code, message));
  }

  /** Canceled at the client's request before it ran: a terminal {@code canceled} event. */
  public static JobOutcome canceled(String message) {
    return new JobOutcome(null, null, new JobEvent.Error("canceled", message));
  }

  /**
   * Canceled at the client's request while it ran: billed for {@code usage}, the work done before
   * the cancel (the prompt and the tokens generated so far).
   */
  public static JobOutcome canceled(String message, JobEvent.Usage usage) {
    return new JobOutcome(null, usage, new JobEvent.Error("canceled", message));
  }

  public boolean succeeded() {
    return error == null;
  }

  public boolean wasCanceled() {
    return error != null && "canceled".equals(error.code());
  }
}
