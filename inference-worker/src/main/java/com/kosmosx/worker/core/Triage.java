package com.kosmosx.worker.core;

import com.kosmosx.contracts.JobEvent;
import com.kosmosx.contracts.JobRequest;
import java.time.Instant;

/**
 * Decides, before a batch runs, what becomes of each polled record: run it, or end it at once
 * without running (unreadable, already settled before a restart, canceled while queued, past its
 * deadline, or running each time the worker died).
 */
final class Triage {

  /** What to do with one record. */
  sealed interface Decision {}

  /** Run it with the batch. */
  record Run(JobRequest job) implements Decision {}

  /**
   * Run it alone: it was running when this worker last died; an innocent neighbour is not blamed
   * again.
   */
  record RunAlone(JobRequest job, int crashes) implements Decision {}

  /** Its end was committed before a restart; only its offset was behind. */
  record Settled() implements Decision {}

  /** End it now with this event, without running it (and without billing it). */
  record End(JobEvent terminal) implements Decision {}

  /** Set it aside on the dead-letter topic for an operator; its job ends failed. */
  record DeadLetter(String reason, int attempts) implements Decision {}

  private final String workerId;
  private final CrashLedger ledger;
  private final JobControls controls;
  private final int maxAttempts;

  Triage(String workerId, CrashLedger ledger, JobControls controls, int maxAttempts) {
    this.workerId = workerId;
    this.ledger = ledger;
    this.controls = controls;
    this.maxAttempts = maxAttempts;
  }

  Decision decide(BatchAssembler.Polled polled, Instant now) {
    if (polled.error() != null) {
      return new DeadLetter(polled.error(), 1);
    }
    JobRequest job = polled.job();
    if (ledger != null && ledger.isSettled(job.jobId())) {
      return new Settled();
    }
    if (controls != null && controls.canceled(job.jobId())) {
      return new End(
          JobEvent.canceled(
              job.jobId(),
              job.accountId(),
              now,
              workerId,
              new JobEvent.Error("canceled", "Canceled before it started.")));
    }
    if (job.deadline() != null && now.isAfter(job.deadline())) {
      return new End(
          JobEvent.failed(
              job.jobId(),
              job.accountId(),
              now,
              workerId,
              new JobEvent.Error("expired", "The job did not start before its deadline.")));
    }
    int crashes = ledger == null ? 0 : ledger.crashes(job.jobId());
    if (crashes >= maxAttempts) {
      return new DeadLetter(
          "the job was running each of the " + crashes + " times the worker died", crashes);
    }
    return crashes > 0 ? new RunAlone(job, crashes) : new Run(job);
  }
}
