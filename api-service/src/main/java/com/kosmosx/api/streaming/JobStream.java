package com.kosmosx.api.streaming;

/**
 * What this API instance knows of one job's output while it is generated: the text streamed so far
 * (contiguous from the start, or given up on after a gap), whether the job started and whether it
 * ended. Readers wait on it; the hub's consumer and the job-end listener change it. A gap (a delta
 * lost, or this instance started mid-job) is never guessed across: the text stays as it is and the
 * readers take the rest from the job's terminal event.
 */
public final class JobStream {
  private final StringBuilder text = new StringBuilder();
  private boolean started;
  private boolean ended;
  private boolean gap;
  private Double engineFirstTokenMs;
  private int readers;
  private volatile long touched = System.nanoTime();

  /** A snapshot for one reader. */
  public record View(boolean started, boolean ended, String text, Double engineFirstTokenMs) {}

  synchronized void started() {
    if (!started) {
      started = true;
      touch();
    }
  }

  /** Applies a delta; repeated or overlapping deltas are absorbed, a gap stops the text. */
  synchronized int append(int offset, String piece, Double engineMs) {
    if (piece == null || gap || ended) {
      return 0;
    }
    started = true;
    if (engineMs != null && engineFirstTokenMs == null) {
      engineFirstTokenMs = engineMs;
    }
    int have = text.length();
    if (offset > have) {
      gap = true;
      touch();
      return 0;
    }
    int from = have - offset;
    if (from >= piece.length()) {
      return 0;
    }
    text.append(piece, from, piece.length());
    touch();
    return piece.length() - from;
  }

  synchronized void ended() {
    if (!ended) {
      ended = true;
      touch();
    }
  }

  /** The text can no longer be trusted to be whole (evicted, or the reader lost deltas). */
  synchronized void dropped() {
    gap = true;
    touch();
  }

  synchronized View peek() {
    return new View(started, ended, "", engineFirstTokenMs);
  }

  long touchedAt() {
    return touched;
  }

  synchronized int length() {
    return text.length();
  }

  synchronized void reader(int delta) {
    readers += delta;
  }

  synchronized boolean hasReaders() {
    return readers > 0;
  }

  boolean idleFor(long nanos) {
    return System.nanoTime() - touched > nanos;
  }

  private void touch() {
    touched = System.nanoTime();
    notifyAll();
  }

  /**
   * Waits until there is something past what the reader has ({@code chars} of text, the start if
   * {@code sawStart} is false, the end) or {@code millis} pass; returns the state then.
   */
  public synchronized View await(int chars, boolean sawStart, long millis)
      throws InterruptedException {
    long end = System.currentTimeMillis() + millis;
    while (!ended && text.length() <= chars && (sawStart || !started)) {
      long left = end - System.currentTimeMillis();
      if (left <= 0) {
        break;
      }
      wait(left);
    }
    return new View(
        started,
        ended,
        text.length() > chars ? text.substring(Math.max(0, chars)) : "",
        engineFirstTokenMs);
  }
}
