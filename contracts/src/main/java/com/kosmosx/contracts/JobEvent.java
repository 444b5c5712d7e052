package com.kosmosx.contracts;

import java.time.Instant;
import java.util.List;
import java.util.Objects;

/**
 * A change in a job's life, written by the worker (the one writer of terminal states). Key: the job
 * id. Terminal kinds ({@code SUCCEEDED}, {@code FAILED}, {@code CANCELED}) are written in the same
 * Kafka transaction as the usage event and the consumed offset.
 */
public record JobEvent(
    String jobId,
    String accountId,
    Kind kind,
    Instant at,
    String workerId,
    Output output,
    Usage usage,
    Error error) {

  public JobEvent {
    Objects.requireNonNull(jobId, "jobId");
    Objects.requireNonNull(kind, "kind");
    Objects.requireNonNull(at, "at");
  }

  /** Life-cycle step; the first three after STARTED are terminal. */
  public enum Kind {
    STARTED,
    SUCCEEDED,
    FAILED,
    CANCELED;

    public boolean terminal() {
      return this != STARTED;
    }
  }

  /**
   * Generated text and, for grounded image jobs, detected objects.
   *
   * @param finishReason {@code stop} (end of sequence or a stop sequence) or {@code length} ({@code
   *     max_tokens} reached); null from workers older than this field
   */
  public record Output(String text, List<DetectedObject> objects, String finishReason) {
    public Output(String text, List<DetectedObject> objects) {
      this(text, objects, null);
    }
  }

  /** A detected object with its box normalised to the original image (0..1). */
  public record DetectedObject(String label, Box box) {}

  /** Box corners, normalised. */
  public record Box(double x0, double y0, double x1, double y1) {}

  /** Counted by the model's tokenizer; images processed. */
  public record Usage(int inputTokens, int outputTokens, int images) {}

  /** Machine-readable code and a message safe to show the client. */
  public record Error(String code, String message) {}

  public static JobEvent started(String jobId, String accountId, Instant at, String workerId) {
    return new JobEvent(jobId, accountId, Kind.STARTED, at, workerId, null, null, null);
  }

  public static JobEvent succeeded(
      String jobId, String accountId, Instant at, String workerId, Output output, Usage usage) {
    return new JobEvent(jobId, accountId, Kind.SUCCEEDED, at, workerId, output, usage, null);
  }

  /** Ended at the client's request: never billed (no usage event goes with it). */
  public static JobEvent canceled(
      String jobId, String accountId, Instant at, String workerId, Error reason) {
    return canceled(jobId, accountId, at, workerId, reason, null);
  }

  /** Canceled while it ran: {@code usage} is the work done before the cancel, which is billed. */
  public static JobEvent canceled(
      String jobId, String accountId, Instant at, String workerId, Error reason, Usage usage) {
    return new JobEvent(jobId, accountId, Kind.CANCELED, at, workerId, null, usage, reason);
  }

  public static JobEvent failed(
      String jobId, String accountId, Instant at, String workerId, Error error) {
    return new JobEvent(jobId, accountId, Kind.FAILED, at, workerId, null, null, error);
  }
}
