package com.kosmosx.contracts;

import java.time.Instant;
import java.util.Objects;

/**
 * A piece of a streaming job's output, published by the worker as it is generated (topic {@link
 * Topics#JOB_STREAM}, key: the job id, so one job's deltas stay in order). Best effort: a delta may
 * be lost or repeated; the terminal job event stays the one source of truth, and a reader fills
 * whatever it missed from it. {@code offset} makes a delta idempotent: it is the position in the
 * output text (UTF-16 chars) where {@code text} starts.
 *
 * @param kind {@code STARTED} when the job's batch starts (no text), {@code TEXT} for output
 * @param offset where {@code text} starts in the job's output text
 * @param text whole characters and whole SentencePiece words only: never half a surrogate pair or a
 *     partial UTF-8 sequence, never a prefix of a stop sequence that may still complete
 * @param at when the worker produced it
 * @param engineFirstTokenMs on the first {@code TEXT} delta only: the engine's own time from the
 *     batch's start to this job's first token (prefill and first pick), for the bench
 */
public record StreamDelta(
    String jobId, Kind kind, int offset, String text, Instant at, Double engineFirstTokenMs) {

  public StreamDelta {
    Objects.requireNonNull(jobId, "jobId");
    Objects.requireNonNull(kind, "kind");
  }

  public enum Kind {
    STARTED,
    TEXT
  }

  public static StreamDelta started(String jobId, Instant at) {
    return new StreamDelta(jobId, Kind.STARTED, 0, null, at, null);
  }

  public static StreamDelta text(
      String jobId, int offset, String text, Instant at, Double engineFirstTokenMs) {
    return new StreamDelta(jobId, Kind.TEXT, offset, text, at, engineFirstTokenMs);
  }
}
