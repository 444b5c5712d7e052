package com.kosmosx.contracts;

import java.time.Instant;

/** A control message for a job (cancel requests). Key: the job id; compacted. */
public record JobControl(String jobId, String accountId, Action action, Instant at) {

  /** What the API asks of the worker. */
  public enum Action {
    CANCEL
  }
}
