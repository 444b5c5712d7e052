package com.kosmosx.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Runs a Java main in its own JVM (the engine and metering benchmarks, Kafka's tools) and reads
 * Kafka's tools' figures from their output.
 */
final class Tools {
  private static final Pattern PERF_SUMMARY =
      Pattern.compile(
          "(\\d+) records sent, ([\\d.]+) records/sec .*?, ([\\d.]+) ms avg latency,"
              + " ([\\d.]+) ms max latency, (\\d+) ms 50th, (\\d+) ms 95th, (\\d+) ms 99th");
  private static final Pattern E2E_AVG = Pattern.compile("Avg latency: ([\\d.]+) ms");
  private static final Pattern E2E_PCT =
      Pattern.compile("Percentiles: 50th = (\\d+), 99th = (\\d+), 99\\.9th = (\\d+)");

  private Tools() {}

  record Throughput(double recordsPerSecond, long p50Ms, long p99Ms) {}

  record Latency(double avgMs, long p50Ms, long p99Ms) {}

  /** Kafka's ProducerPerformance: acks=all, as fast as it goes, records of the given size. */
  static Throughput producerPerformance(String bootstrap, int records, int bytes, Path log)
      throws Exception {
    return producerPerformance(bootstrap, records, bytes, -1, 0, log);
  }

  /**
   * As above at {@code throughput} records/s (-1: unthrottled); with {@code transactionMs} > 0 the
   * tool's transactional mode, committing a transaction every that many milliseconds.
   */
  static Throughput producerPerformance(
      String bootstrap, int records, int bytes, int throughput, int transactionMs, Path log)
      throws Exception {
    String topic = "bench.producer-performance";
    Bench.createTopic(bootstrap, topic);
    List<String> args =
        new java.util.ArrayList<>(
            List.of(
                "--bootstrap-server",
                bootstrap,
                "--topic",
                topic,
                "--num-records",
                String.valueOf(records),
                "--record-size",
                String.valueOf(bytes),
                "--throughput",
                String.valueOf(throughput),
                "--producer-props",
                "acks=all"));
    if (transactionMs > 0) {
      args.addAll(
          List.of(
              "--transactional-id",
              "bench-tx-" + java.util.UUID.randomUUID(),
              "--transaction-duration-ms",
              String.valueOf(transactionMs)));
    }
    String output =
        java(
            System.getProperty("java.class.path"),
            "org.apache.kafka.tools.ProducerPerformance",
            args,
            log,
            Duration.ofMinutes(3));
    return parseProducerPerformance(output);
  }

  static Throughput parseProducerPerformance(String output) {
    Matcher last = null;
    Matcher m = PERF_SUMMARY.matcher(output);
    while (m.find()) {
      last = m;
      m = PERF_SUMMARY.matcher(output).region(m.end(), output.length());
    }
    if (last == null) {
      throw new IllegalStateException("no ProducerPerformance summary in:\n" + output);
    }
    return new Throughput(
        Double.parseDouble(last.group(2)),
        Long.parseLong(last.group(5)),
        Long.parseLong(last.group(7)));
  }

  /** Kafka's EndToEndLatency: produce one record, wait until it is consumed, repeat. */
  static Latency endToEndLatency(String bootstrap, int records, int bytes, Path log)
      throws Exception {
    String topic = "bench.end-to-end-latency";
    Bench.createTopic(bootstrap, topic);
    String output =
        java(
            System.getProperty("java.class.path"),
            "org.apache.kafka.tools.EndToEndLatency",
            List.of(bootstrap, topic, String.valueOf(records), "all", String.valueOf(bytes)),
            log,
            Duration.ofMinutes(3));
    return parseEndToEndLatency(output);
  }

  static Latency parseEndToEndLatency(String output) {
    Matcher avg = E2E_AVG.matcher(output);
    Matcher pct = E2E_PCT.matcher(output);
    if (!avg.find() || !pct.find()) {
      throw new IllegalStateException("no EndToEndLatency figures in:\n" + output);
    }
    return new Latency(
        Double.parseDouble(avg.group(1)),
        Long.parseLong(pct.group(1)),
        Long.parseLong(pct.group(2)));
  }

  /** Runs {@code main} in a fresh JVM; returns its output (also written to {@code log}). */
  static String java(String classpath, String main, List<String> args, Path log, Duration timeout)
      throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.add("-cp");
    cmd.add(classpath);
    cmd.add(main);
    cmd.addAll(args);
    ProcessBuilder pb =
        new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
    pb.environment().put("DJL_OFFLINE", "true");
    pb.environment().put("OPT_OUT_TRACKING", "true");
    Process p = pb.start();
    if (!p.waitFor(timeout.toSeconds(), TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IllegalStateException(main + " took over " + timeout + "; see " + log);
    }
    String output = Files.readString(log, StandardCharsets.UTF_8);
    if (p.exitValue() != 0) {
      throw new IllegalStateException(main + " exited " + p.exitValue() + "; see " + log);
    }
    return output;
  }
}
