package com.kosmosx.worker.core;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * What this worker was running when it last died, kept in a small file under its state folder.
 * Before a batch starts, its job ids are written (and synced); when the batch ends they are
 * cleared. A worker that finds ids left there at start was killed while running them: each of those
 * jobs has one more crash to its name. The consumer runs a job with a crash alone (so an innocent
 * neighbour is not blamed again) and dead-letters one that reached the limit, instead of letting it
 * kill every worker in turn.
 *
 * <p>The ledger is per worker id and lane, so it works where worker ids are stable (the deployment
 * model here: a restarted worker keeps its id and its state folder). A job that moves to another
 * worker starts its count there afresh; it is then isolated there too.
 */
public final class CrashLedger {
  private static final ObjectMapper JSON = new ObjectMapper();
  private final Path file;

  /**
   * Most settled job ids remembered (oldest forgotten first): a settled job whose offset is still
   * behind lies within the partition's in-flight window (a batch plus what waits), far below this.
   */
  static final int SETTLED_MEMORY = 256;

  private final Map<String, Integer> crashes = new HashMap<>();
  private final java.util.LinkedHashSet<String> settled = new java.util.LinkedHashSet<>();
  private List<String> inFlight = List.of();

  /** The ledger's state on disk. */
  record State(List<String> inFlight, Map<String, Integer> crashes, List<String> settled) {}

  public CrashLedger(Path file) {
    this.file = file;
    if (Files.exists(file)) {
      try {
        State s = JSON.readValue(file.toFile(), new TypeReference<State>() {});
        if (s.crashes() != null) {
          crashes.putAll(s.crashes());
        }
        if (s.inFlight() != null) {
          for (String id : s.inFlight()) {
            if (s.settled() == null || !s.settled().contains(id)) {
              crashes.merge(id, 1, Integer::sum);
            }
          }
        }
        if (s.settled() != null) {
          settled.addAll(s.settled());
        }
      } catch (IOException e) {
        // A torn file (killed mid-write is avoided by the atomic move; this is disk trouble):
        // start afresh rather than refuse to serve.
        crashes.clear();
      }
    }
    write();
  }

  /** How many times this job was running when this worker died. */
  public int crashes(String jobId) {
    return crashes.getOrDefault(jobId, 0);
  }

  /** Records the jobs about to run; durable before the model sees them. */
  public void begin(List<String> jobIds) {
    inFlight = List.copyOf(jobIds);
    write();
  }

  /**
   * The batch ended (every job committed): nothing is in flight, and its jobs are forgiven. Not
   * synced: a killed process's write survives in the page cache; after a machine crash the batch's
   * jobs would count one crash each, but they are committed and never come back.
   */
  public void end() {
    for (String id : inFlight) {
      crashes.remove(id);
    }
    inFlight = List.of();
    write(false);
  }

  /**
   * The job's outcome is committed, though its offset may not be yet (an earlier job of the
   * partition still runs). If the worker restarts before the offset moves, the job is consumed
   * again; the consumer then only advances the offset instead of running it and billing it twice.
   * Written without a sync: a killed process's writes survive; only a machine crash could lose one,
   * and then metering's dedup by job id still bills once.
   */
  public void settled(String jobId) {
    settled(List.of(jobId));
  }

  /** As {@link #settled(String)} for the jobs of one commit, with one write. */
  public void settled(java.util.Collection<String> jobIds) {
    settled.addAll(jobIds);
    while (settled.size() > SETTLED_MEMORY) {
      settled.remove(settled.iterator().next());
    }
    write(false);
  }

  public boolean isSettled(String jobId) {
    return settled.contains(jobId);
  }

  /** A job dead-lettered or otherwise settled without running. */
  public void forget(String jobId) {
    if (crashes.remove(jobId) != null) {
      write();
    }
  }

  private void write() {
    write(true);
  }

  private void write(boolean sync) {
    try {
      Files.createDirectories(file.getParent());
      Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
      byte[] bytes =
          JSON.writeValueAsBytes(
              new State(
                  new ArrayList<>(inFlight), new HashMap<>(crashes), new ArrayList<>(settled)));
      try (FileChannel ch =
          FileChannel.open(
              tmp,
              StandardOpenOption.CREATE,
              StandardOpenOption.WRITE,
              StandardOpenOption.TRUNCATE_EXISTING)) {
        ch.write(java.nio.ByteBuffer.wrap(bytes));
        if (sync) {
          ch.force(true);
        }
      }
      Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write the crash ledger " + file, e);
    }
  }
}
