package com.kosmosx.localstack;

import java.io.IOException;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.function.BooleanSupplier;
import java.util.regex.Pattern;

/**
 * Keeps the stack's processes running, like a process manager with {@code restart: unless-stopped}:
 * a service that exits is started again after a backoff (1, 2, 4 … 30 s), each restart printed with
 * the exit cause (exit code or signal, and the last error line of its log). A service that fails
 * {@link Settings#giveUpAfter} times in a row within {@link Settings#fastFailure} of starting is
 * given up on, with its cause, instead of restarted forever. Each service's uptime, restarts and
 * last exit are written to {@code run/<service>.state}, where {@code ./kosmos status} reads them.
 */
final class Supervisor {
  private static final Pattern ERROR_LINE =
      Pattern.compile("(?i)(\\bERROR\\b|\\bFATAL\\b|Exception|Error:|Caused by|has an error)");

  /** How quickly a service is restarted, and when it is given up on. */
  record Settings(Duration firstDelay, Duration maxDelay, Duration fastFailure, int giveUpAfter) {
    static final Settings DEFAULT =
        new Settings(Duration.ofSeconds(1), Duration.ofSeconds(30), Duration.ofSeconds(20), 5);
  }

  /** One supervised service. */
  private static final class Track {
    final ServiceSpec spec;
    LocalStack.Started started;
    int restarts;
    int fastFailures;
    String lastExit;
    boolean gaveUp;
    long restartAtNanos;

    Track(ServiceSpec spec) {
      this.spec = spec;
    }
  }

  private final LocalStack stack;
  private final StackLayout layout;
  private final Settings settings;
  private final PrintStream out;
  private final Map<String, Track> tracks = new LinkedHashMap<>();

  Supervisor(LocalStack stack, StackLayout layout, Settings settings, PrintStream out) {
    this.stack = stack;
    this.layout = layout;
    this.settings = settings;
    this.out = out;
  }

  /** Takes a started service under supervision (null: it was running before; causes unknown). */
  void adopt(ServiceSpec s, LocalStack.Started started) {
    Track t = tracks.computeIfAbsent(s.name(), k -> new Track(s));
    t.started = started;
    write(t);
  }

  /** Supervises until {@code stopping} says so. */
  void run(BooleanSupplier stopping) throws InterruptedException {
    while (!stopping.getAsBoolean()) {
      tick(stopping);
      // Once a second: a service that exits is noticed within a second of its backoff, and an
      // idle supervisor costs next to nothing (at 250 ms it was a quarter of an idle JVM's CPU).
      Thread.sleep(1_000);
    }
  }

  /** One pass: notes what exited and restarts what is due. */
  void tick(BooleanSupplier stopping) {
    for (Track t : tracks.values()) {
      if (t.gaveUp || stopping.getAsBoolean()) {
        continue;
      }
      if (t.restartAtNanos != 0) {
        if (System.nanoTime() >= t.restartAtNanos) {
          t.restartAtNanos = 0;
          restart(t);
        }
        continue;
      }
      if (stack.isRunning(t.spec)) {
        continue;
      }
      exited(t);
    }
  }

  private void exited(Track t) {
    long uptimeMillis =
        t.started == null ? Long.MAX_VALUE : System.currentTimeMillis() - t.started.atMillis();
    t.lastExit = cause(t);
    t.fastFailures = uptimeMillis < settings.fastFailure().toMillis() ? t.fastFailures + 1 : 1;
    if (uptimeMillis < settings.fastFailure().toMillis()
        && t.fastFailures >= settings.giveUpAfter()) {
      t.gaveUp = true;
      out.printf(
          "[kosmos] %s failed %d times within %d s of starting; giving up: %s%n",
          t.spec.name(), t.fastFailures, settings.fastFailure().toSeconds(), t.lastExit);
      out.printf("[kosmos] see %s%n", layout.logs().resolve(t.spec.name() + ".log"));
      write(t);
      return;
    }
    Duration delay = delay(t.fastFailures);
    t.restartAtNanos = System.nanoTime() + delay.toNanos();
    out.printf(
        "[kosmos] %s exited (%s)%s; restarting in %d s%n",
        t.spec.name(),
        t.lastExit,
        uptimeMillis == Long.MAX_VALUE ? "" : " after " + LocalStack.human(uptimeMillis),
        Math.max(1, delay.toSeconds()));
    write(t);
  }

  private Duration delay(int failures) {
    long ms = settings.firstDelay().toMillis() << Math.min(Math.max(0, failures - 1), 10);
    return Duration.ofMillis(Math.min(ms, settings.maxDelay().toMillis()));
  }

  private void restart(Track t) {
    try {
      t.started = stack.start(t.spec);
      t.restarts++;
      out.printf("[kosmos] %s restarted (restart %d)%n", t.spec.name(), t.restarts);
    } catch (IOException e) {
      t.started = null;
      t.lastExit = "could not start: " + e.getMessage();
      t.fastFailures++;
      t.restartAtNanos = System.nanoTime() + delay(t.fastFailures).toNanos();
      out.printf("[kosmos] %s could not start: %s%n", t.spec.name(), e.getMessage());
    }
    write(t);
  }

  /** Why a supervised service ended (see {@link #cause(Track)}). */
  String cause(String service) {
    Track t = tracks.get(service);
    return t == null ? "not supervised" : cause(t);
  }

  /** Why a service ended: its exit code or signal, and the last error line of its log. */
  String cause(Track t) {
    Path log = layout.logs().resolve(t.spec.name() + ".log");
    long from = t.started == null ? Math.max(0, size(log) - 256 * 1024) : t.started.logOffset();
    boolean known =
        t.started != null && t.started.launched() != null && exited(t.started.launched());
    // Read after setsid has exited: its "did not exit normally" line tells a signal from a code.
    List<String> lines = lines(log, from);
    String what =
        t.started == null
            ? "exit cause unknown (it was started by an earlier launcher)"
            : "exit cause unknown";
    if (known) {
      int code = t.started.launched().exitValue();
      boolean setsid = t.started.viaSetsid();
      boolean signaled =
          setsid ? lines.stream().anyMatch(l -> l.contains("did not exit normally")) : code > 128;
      int signal = setsid ? code : code - 128;
      what = signaled ? "killed by signal " + signal + signalName(signal) : "exit code " + code;
    }
    String error = lastError(lines);
    if (error != null && error.length() > 240) {
      error = error.substring(0, 240) + "…";
    }
    return error == null ? what : what + "; last error: " + error;
  }

  /**
   * The last line of a log that reports an error; a line that ends with a colon ("config.yml has an
   * error:") with the line after it, which says what.
   */
  static String lastError(List<String> lines) {
    String error = null;
    for (int i = 0; i < lines.size(); i++) {
      String l = lines.get(i);
      if (ERROR_LINE.matcher(l).find() && !l.contains("did not exit normally")) {
        error = l.strip();
        if (error.endsWith(":") && i + 1 < lines.size() && !lines.get(i + 1).isBlank()) {
          error = error + " " + lines.get(i + 1).strip();
        }
      }
    }
    return error;
  }

  /**
   * Whether the launched process has ended, waiting for it a little: the service is seen gone (its
   * pid) a moment before setsid, which waits for it, has exited with its status.
   */
  private static boolean exited(Process launched) {
    try {
      return launched.waitFor(10, java.util.concurrent.TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return !launched.isAlive();
    }
  }

  private static String signalName(int signal) {
    return switch (signal) {
      case 9 -> " (SIGKILL)";
      case 15 -> " (SIGTERM)";
      case 6 -> " (SIGABRT)";
      case 11 -> " (SIGSEGV)";
      case 2 -> " (SIGINT)";
      default -> "";
    };
  }

  private static long size(Path p) {
    try {
      return Files.exists(p) ? Files.size(p) : 0;
    } catch (IOException e) {
      return 0;
    }
  }

  /** The log's lines from an offset (at most its last 256 KB). */
  static List<String> lines(Path log, long from) {
    List<String> out = new ArrayList<>();
    if (!Files.exists(log)) {
      return out;
    }
    try (RandomAccessFile f = new RandomAccessFile(log.toFile(), "r")) {
      long start = Math.max(from, f.length() - 256 * 1024);
      f.seek(Math.min(start, f.length()));
      byte[] b = new byte[(int) (f.length() - f.getFilePointer())];
      f.readFully(b);
      for (String l : new String(b, StandardCharsets.UTF_8).split("\n")) {
        out.add(l);
      }
    } catch (IOException e) {
      out.add("(cannot read " + log + ": " + e.getMessage() + ")");
    }
    return out;
  }

  private void write(Track t) {
    Properties p = new Properties();
    if (t.started != null) {
      p.setProperty("started_at", Long.toString(t.started.atMillis()));
    }
    p.setProperty("restarts", Integer.toString(t.restarts));
    if (t.lastExit != null) {
      p.setProperty("last_exit", t.lastExit);
    }
    p.setProperty("gave_up", Boolean.toString(t.gaveUp));
    try (var w = Files.newBufferedWriter(stateFile(layout, t.spec.name()))) {
      p.store(w, "kosmos supervisor");
    } catch (IOException e) {
      out.printf("[kosmos] cannot write the state of %s: %s%n", t.spec.name(), e.getMessage());
    }
  }

  static Path stateFile(StackLayout layout, String service) {
    return layout.run().resolve(service + ".state");
  }

  /** What the supervisor last wrote about a service, if anything. */
  static Optional<Properties> state(StackLayout layout, String service) {
    Path f = stateFile(layout, service);
    if (!Files.exists(f)) {
      return Optional.empty();
    }
    Properties p = new Properties();
    try (var r = Files.newBufferedReader(f)) {
      p.load(r);
      return Optional.of(p);
    } catch (IOException e) {
      return Optional.empty();
    }
  }

  boolean gaveUp(String service) {
    Track t = tracks.get(service);
    return t != null && t.gaveUp;
  }

  int restarts(String service) {
    Track t = tracks.get(service);
    return t == null ? 0 : t.restarts;
  }
}
