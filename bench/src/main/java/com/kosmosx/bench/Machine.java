package com.kosmosx.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/** What the figures ran on, and a process's peak resident memory (Linux /proc). */
final class Machine {
  private Machine() {}

  static String describe() {
    String cpu = "unknown CPU";
    long memKb = 0;
    try {
      cpu =
          Files.readAllLines(Path.of("/proc/cpuinfo")).stream()
              .filter(l -> l.startsWith("model name"))
              .map(l -> l.substring(l.indexOf(':') + 1).trim())
              .findFirst()
              .orElse(cpu);
      memKb = kb(Files.readString(Path.of("/proc/meminfo")), "MemTotal:");
    } catch (IOException e) {
      // not Linux: the description says less
    }
    return String.format(
        java.util.Locale.ROOT,
        "%s, %d cores, %.0f GB RAM, Java %s",
        cpu,
        Runtime.getRuntime().availableProcessors(),
        memKb / 1024.0 / 1024.0,
        System.getProperty("java.version"));
  }

  /**
   * The calibration figure: milliseconds one thread takes to SHA-256 64 MiB (best of 3, after a
   * warm-up). Fixed work, so a slower or busier machine shows here first.
   */
  static double calibrationMillis() {
    return calibrationMillis(1);
  }

  /**
   * The same work on {@code threads} threads at once, each its own 64 MiB: with as many threads as
   * cores, a figure near the one-thread figure says every core was there; twice it, that the
   * machine's other work (or a neighbour on the host) took one. Multi-threaded figures (the
   * engine's batched decode) move with this one, not with the one-thread figure.
   */
  static double calibrationMillis(int threads) {
    byte[] data = new byte[1 << 20];
    new java.util.Random(42).nextBytes(data);
    double best = Double.MAX_VALUE;
    for (int run = 0; run < 4; run++) {
      long t0 = System.nanoTime();
      Thread[] all = new Thread[threads];
      for (int t = 0; t < threads; t++) {
        all[t] = new Thread(() -> hash(data));
        all[t].start();
      }
      for (Thread t : all) {
        try {
          t.join();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IllegalStateException(e);
        }
      }
      double ms = (System.nanoTime() - t0) / 1e6;
      if (run > 0) {
        best = Math.min(best, ms);
      }
    }
    return best;
  }

  private static void hash(byte[] data) {
    try {
      java.security.MessageDigest md = java.security.MessageDigest.getInstance("SHA-256");
      for (int i = 0; i < 64; i++) {
        md.update(data);
      }
      md.digest();
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** The process's peak resident set (VmHWM), in bytes; 0 if it is not running. */
  static long peakRssBytes(Optional<ProcessHandle> process) {
    if (process.isEmpty()) {
      return 0;
    }
    try {
      return kb(
              Files.readString(Path.of("/proc", String.valueOf(process.get().pid()), "status")),
              "VmHWM:")
          * 1024;
    } catch (IOException e) {
      return 0;
    }
  }

  /** CPU seconds (user + system) a process has used, from /proc/<pid>/stat; 0 if unknown. */
  static double cpuSeconds(long pid) {
    try {
      String stat = Files.readString(Path.of("/proc", String.valueOf(pid), "stat"));
      // Fields after the command name (which may hold spaces) start after the last ')'.
      String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
      return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0; // utime, stime; USER_HZ 100
    } catch (IOException | RuntimeException e) {
      return 0;
    }
  }

  /** CPU seconds of every process named {@code comm} (PostgreSQL's backends, for instance). */
  static double cpuSecondsOfAll(String comm) {
    double total = 0;
    try (var dirs = Files.list(Path.of("/proc"))) {
      for (Path d : (Iterable<Path>) dirs::iterator) {
        String name = d.getFileName().toString();
        if (!name.chars().allMatch(Character::isDigit)) {
          continue;
        }
        try {
          if (Files.readString(d.resolve("comm")).trim().equals(comm)) {
            total += cpuSeconds(Long.parseLong(name));
          }
        } catch (IOException e) {
          // the process ended meanwhile
        }
      }
    } catch (IOException e) {
      return 0;
    }
    return total;
  }

  /** The kB figure on the line starting with {@code field} in a /proc file. */
  static long kb(String procFile, String field) {
    for (String line : procFile.split("\n")) {
      if (line.startsWith(field)) {
        return Long.parseLong(line.substring(field.length()).trim().split("\\s+")[0]);
      }
    }
    return 0;
  }
}
