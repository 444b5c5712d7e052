package com.kosmosx.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.kosmosx.contracts.Json;
import com.kosmosx.contracts.Topics;
import com.kosmosx.localstack.LocalStack;
import com.kosmosx.localstack.StackAccounts;
import com.kosmosx.localstack.StackLayout;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * {@code ./kosmos bench}: the system's figures, each against a baseline measured in the same run on
 * the same machine, printed as a table and written as JSON (README "Performance").
 *
 * <ol>
 *   <li>Engine (before anything else runs): decode tokens/s at batch 1/4/16, per-token time at 1k
 *       and 20k context, the Java loop's share ({@code DecodeBenchmark}, in its own JVM).
 *   <li>Cold start: a fresh local stack from the call to all healthy, against the platform alone
 *       (PostgreSQL and Kafka healthy).
 *   <li>Pipeline: 1-token jobs at 100/s, submit to {@code succeeded} visible through the API (the
 *       submit holds with {@code Prefer: wait}, woken by the projection's commit), against Kafka's
 *       {@code EndToEndLatency} on the same broker times the two Kafka hops on the path (jobs topic
 *       to the worker, job events back to the API).
 *   <li>Submit throughput: accepted text jobs/s from 64 keep-alive connections (closed loop)
 *       against the same server's authenticated no-op {@code GET /v1/ping} and Kafka's {@code
 *       ProducerPerformance} (acks=all, the job message's size); then latency at half that rate.
 *       The worker is stopped for this part: on this two-core machine it would take the API's
 *       cores, which GPU workers on their own hosts do not. Jobs wait in Kafka meanwhile.
 *   <li>Memory: each service's peak RSS (VmHWM), the worker's after the pipeline's jobs, the
 *       others' after the submit load.
 *   <li>Metering ({@code MeteringBenchmark}, in its own JVM on a fresh broker): exactly_once_v2
 *       events/s against a plain consumer, and event-to-row lag at 1,000 events/s.
 * </ol>
 *
 * <pre>./kosmos bench [--seconds 10] [--out .kosmos/bench]</pre>
 */
public final class Bench {
  private static final ObjectMapper JSON = Json.mapper();

  /** Kafka hops between submit and a visible result: jobs topic, job-events topic. */
  static final int KAFKA_HOPS = 2;

  private Bench() {}

  /** The calibration figure, shown as the baseline of the CPU rows. */
  private static String calibration = "";

  /**
   * The goals for the whole stack (API + worker + metering + Kafka + PostgreSQL), split per
   * process so each row says which one is over: CPU per 1-token job at 100 jobs/s, and CPU per
   * second of an idle stack.
   */
  static final Map<String, Double> CPU_PER_JOB_GOAL_MS =
      orderedMap("api", 3.0, "worker", 2.0, "metering", 0.5, "kafka", 2.0, "postgres", 0.5);

  static final Map<String, Double> IDLE_GOAL_MS_PER_S =
      orderedMap("api", 5.0, "worker", 5.0, "metering", 3.0, "kafka", 5.0, "postgres", 2.0);

  static final List<String> STACK = List.of("api", "worker", "metering", "kafka", "postgres");

  private static Map<String, Double> orderedMap(Object... kv) {
    Map<String, Double> m = new LinkedHashMap<>();
    for (int i = 0; i < kv.length; i += 2) {
      m.put((String) kv[i], (Double) kv[i + 1]);
    }
    return java.util.Collections.unmodifiableMap(m);
  }

  /** One line of the table. */
  record Row(String figure, String result, String baseline, String ratio, String goal, String met) {
    Map<String, String> asMap() {
      Map<String, String> m = new LinkedHashMap<>();
      m.put("figure", figure);
      m.put("result", result);
      m.put("baseline", baseline);
      m.put("ratio", ratio);
      m.put("goal", goal);
      m.put("met", met);
      return m;
    }
  }

  public static void main(String[] args) throws Exception {
    Map<String, String> opt = Options.parse(args);
    Path root = Path.of(System.getProperty("kosmos.root", ".")).toAbsolutePath().normalize();
    String servicesCp =
        Files.readString(
                Path.of(
                    opt.getOrDefault(
                        "services-classpath", root.resolve(".kosmos/classpath.txt").toString())))
            .trim();
    Path out = Path.of(opt.getOrDefault("out", root.resolve(".kosmos/bench").toString()));
    Files.createDirectories(out);
    Duration window = Duration.ofSeconds(Integer.parseInt(opt.getOrDefault("seconds", "10")));
    java.util.Set<String> only =
        java.util.Set.of(opt.getOrDefault("only", "engine,stack,metering").split(","));
    long started = System.nanoTime();

    Map<String, Object> json = new LinkedHashMap<>();
    json.put("at", Instant.now().toString());
    json.put("commit", git(root));
    json.put("machine", Machine.describe());
    System.out.println("kosmos bench on " + Machine.describe());
    List<Row> rows = new ArrayList<>();
    // A fixed single-thread workload, timed before anything else runs: runs from different days
    // compare through it (a machine 2x slower on it is expected to be 2x slower everywhere).
    double calibrationMs = Machine.calibrationMillis();
    int cores = Runtime.getRuntime().availableProcessors();
    double allCoresMs = Machine.calibrationMillis(cores);
    json.put(
        "calibration",
        Map.of(
            "sha256_64mib_ms", round(calibrationMs),
            "sha256_64mib_per_core_all_cores_ms", round(allCoresMs),
            "cores", cores));
    System.out.printf(
        Locale.ROOT,
        "calibration: SHA-256 of 64 MiB, one thread: %.0f ms; on each of %d cores at once: %.0f ms%n",
        calibrationMs,
        cores,
        allCoresMs);
    calibration = fmt("calibration %.0f ms (%d cores: %.0f)", calibrationMs, cores, allCoresMs);

    // 1. Engine, alone on the machine.
    if (only.contains("engine")) {
      engine(servicesCp, root, out, json, rows);
    }
    if (only.contains("stack")
        || only.contains("pipeline")
        || only.contains("submit")
        || only.contains("streaming")) {
      // "stack" is every figure on the stack; "pipeline" or "submit" only that one (with cold
      // start and memory), for iterating on one figure.
      boolean all = only.contains("stack");
      stack(
          servicesCp,
          root,
          out,
          window,
          all || only.contains("pipeline"),
          all || only.contains("submit"),
          all || only.contains("streaming"),
          json,
          rows);
    }
    if (only.contains("metering")) {
      metering(out, json, rows);
    }

    double totalS = (System.nanoTime() - started) / 1e9;
    json.put("duration_s", round(totalS));
    json.put("rows", rows.stream().map(Row::asMap).toList());
    String table = table(rows);
    System.out.println();
    System.out.println(table);
    String stamp =
        DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")
            .withZone(ZoneOffset.UTC)
            .format(Instant.now());
    Path file = out.resolve("bench-" + stamp + "-" + json.get("commit") + ".json");
    String text = JSON.writerWithDefaultPrettyPrinter().writeValueAsString(json);
    Files.writeString(file, text);
    Files.writeString(out.resolve("latest.json"), text);
    Files.writeString(out.resolve("latest.md"), table);
    System.out.printf(Locale.ROOT, "%nbench took %.0f s; JSON: %s%n", totalS, file);
    System.exit(0);
  }

  private static void engine(
      String servicesCp, Path root, Path out, Map<String, Object> json, List<Row> rows)
      throws Exception {
    System.out.println("\n[engine] DecodeBenchmark on the tiny model (own JVM)...");
    Path engineJson = out.resolve("engine.json");
    Tools.java(
        servicesCp,
        "com.kosmosx.worker.bench.DecodeBenchmark",
        List.of(
            "--model",
            root.resolve("model/tiny-kosmos").toString(),
            "--runs",
            "3",
            "--json",
            engineJson.toString()),
        out.resolve("engine.log"),
        Duration.ofMinutes(3));
    JsonNode engine = JSON.readTree(engineJson.toFile());
    json.put("engine", engine);
    double b1 = engine.path("batch").path("1").path("tokens_per_s").asDouble();
    for (String b : List.of("4", "16")) {
      JsonNode n = engine.path("batch").path(b);
      rows.add(
          new Row(
              "engine: decode tokens/s at batch " + b,
              fmt("%.0f tok/s", n.path("tokens_per_s").asDouble()),
              fmt("batch 1: %.0f tok/s", b1),
              fmt("%.1fx", n.path("ratio").asDouble()),
              b.equals("16") ? ">= 6x" : "",
              b.equals("16") ? met(n.path("ratio").asDouble() >= 6) : ""));
    }
    JsonNode ctx = engine.path("context");
    rows.add(
        new Row(
            "engine: decode ms/token at 20k context",
            fmt("%.2f ms", ctx.path("ms_per_token_20k").asDouble()),
            fmt("1k context: %.2f ms", ctx.path("ms_per_token_1k").asDouble()),
            fmt("%.1fx", ctx.path("ratio").asDouble()),
            "<= 2x",
            met(ctx.path("ratio").asDouble() <= 2)));
    rows.add(
        new Row(
            "engine: Java loop share of batch-1 step time",
            fmt("%.1f %%", engine.path("java_overhead_percent").asDouble()),
            "libtorch time",
            "",
            "<= 10 %",
            met(engine.path("java_overhead_percent").asDouble() <= 10)));
  }

  private static void stack(
      String servicesCp,
      Path root,
      Path out,
      Duration window,
      boolean pipelineOn,
      boolean submitOn,
      boolean streamingOn,
      Map<String, Object> json,
      List<Row> rows)
      throws Exception {
    Path home = Files.createTempDirectory("kosmos-bench");
    Map<String, String> env = StackLayout.onFreePorts(home);
    env.put("KOSMOS_RATE_JOBS_PER_MINUTE", "100000000");
    env.put("KOSMOS_MAX_UNFINISHED_JOBS", "100000000");
    // 65 accounts are created: the per-address signup limit and the password hashing cost would
    // only slow the set-up (neither is on the measured path).
    env.put("KOSMOS_SIGNUPS_PER_HOUR", "100000");
    env.put("KOSMOS_BCRYPT_COST", "4");
    // JVM options for the stack's services (LocalStack.extraJavaOptions), to compare settings.
    System.getenv()
        .forEach(
            (k, v) -> {
              if (k.startsWith("KOSMOS_JAVA_OPTS")) {
                env.put(k, v);
                System.out.println("  " + k + "=" + v);
              }
            });
    // PostgreSQL loads pg_stat_statements: the pipeline's statements per job (Profiles).
    env.put(com.kosmosx.platform.EmbeddedPostgresServer.STATEMENT_STATS, "1");
    StackLayout layout = StackLayout.fromEnvironment(root, env);
    LocalStack stack = new LocalStack(layout, servicesCp);
    Map<String, Object> stackJson = new LinkedHashMap<>();
    json.put("stack", stackJson);
    // A bench stopped from outside (Ctrl-C, a timeout's SIGTERM) skips the finally below; without
    // this its stack (five processes and the embedded PostgreSQL) would outlive it.
    Thread stopOnExit = new Thread(stack::down, "bench-stack-down");
    Runtime.getRuntime().addShutdownHook(stopOnExit);
    try {
      System.out.println("\n[cold start] a fresh local stack...");
      long t0 = System.nanoTime();
      if (stack.up(true) != 0) {
        throw new IllegalStateException("the local stack did not start; see " + layout.logs());
      }
      double coldS = (System.nanoTime() - t0) / 1e9;
      Map<String, Long> ready = stack.readyAfterMillis();
      double platformS = Math.max(ready.get("postgres"), ready.get("kafka")) / 1000.0;
      stackJson.put("cold_start_s", round(coldS));
      stackJson.put("platform_ready_s", round(platformS));
      stackJson.put("ready_after_ms", ready);
      rows.add(
          new Row(
              "cold start: command to all healthy",
              fmt("%.1f s", coldS),
              fmt("PostgreSQL + Kafka alone: %.1f s", platformS),
              fmt("%.1fx", coldS / platformS),
              "<= 20 s",
              met(coldS <= 20)));

      String key = StackAccounts.newKey(layout, "bench");
      List<String> keys = new ArrayList<>();
      for (int i = 0; i < 64; i++) {
        keys.add(StackAccounts.newKey(layout, "bench"));
      }
      int port = URI.create(layout.apiUrl()).getPort();

      int jobBytes = 0;
      if (pipelineOn) {
        // Pipeline overhead: 1-token jobs. First a warm-up at a rate every service keeps up with
        // (five JVMs compile their hot paths in the first minute), then the idle CPU of the stack,
        // then the goal's 100/s and, for comparison, 25/s.
        byte[] waitJob =
            HttpLoad.request(
                "POST",
                "/v1/jobs",
                port,
                key,
                "Prefer: wait=10",
                "{\"type\":\"text\",\"input\":{\"prompt\":\"Hello\",\"max_tokens\":1}}");
        System.out.println("\n[pipeline] warm-up: 1-token jobs at 20/s for 25 s...");
        System.out.println(
            "  " + pipelineAt(stack, layout, port, waitJob, 20, Duration.ofSeconds(25)).load());
        idle(stack, stackJson, rows);
        Pipeline slow = pipelineAt(stack, layout, port, waitJob, 25, window);
        System.out.println("[pipeline] 25 jobs/s: " + slow);
        Pipeline fast = pipelineAt(stack, layout, port, waitJob, 100, window);
        System.out.println("[pipeline] 100 jobs/s: " + fast);
        HttpLoad.Result pipeline = fast.load();
        Map<String, Object> stages = fast.stages();
        cpuPerJobRows(stages, rows);
        jobBytes = jobMessageSize(layout);
        Tools.Latency e2e =
            Tools.endToEndLatency(
                layout.kafkaBootstrap(), 2_000, jobBytes, out.resolve("e2e-latency.log"));
        System.out.printf(
            Locale.ROOT,
            "  Kafka EndToEndLatency (acks=all, %d B): p50 %d ms, p99 %d ms, avg %.2f ms%n",
            jobBytes,
            e2e.p50Ms(),
            e2e.p99Ms(),
            e2e.avgMs());
        double hopsBaseline = KAFKA_HOPS * e2e.avgMs();
        transactionCost(stack, layout, jobBytes, out, stackJson, rows);
        stackJson.put("pipeline", result(pipeline));
        stackJson.put("cpu_per_job_goal_ms", CPU_PER_JOB_GOAL_MS);
        stackJson.put("pipeline_stages", stages);
        stackJson.put("pipeline_25_per_s", result(slow.load()));
        stackJson.put("pipeline_25_per_s_stages", slow.stages());
        stackJson.put(
            "kafka_end_to_end_latency",
            Map.of("p50_ms", e2e.p50Ms(), "p99_ms", e2e.p99Ms(), "avg_ms", e2e.avgMs()));
        rows.add(
            new Row(
                "pipeline: submit -> succeeded, 1 token, 100 jobs/s",
                fmt(
                    "p50 %.1f ms, p99 %.1f ms",
                    pipeline.percentileMillis(50), pipeline.percentileMillis(99)),
                fmt(
                    "Kafka e2e x %d hops: %.1f ms (p50 %d, p99 %d ms per hop)",
                    KAFKA_HOPS, hopsBaseline, e2e.p50Ms(), e2e.p99Ms()),
                fmt("%.1fx", pipeline.percentileMillis(50) / Math.max(hopsBaseline, 0.001)),
                "p50 <= 25 ms",
                met(pipeline.percentileMillis(50) <= 25 && pipeline.failures() == 0)));
        rows.add(
            new Row(
                "pipeline: submit -> succeeded, 1 token, 25 jobs/s",
                fmt(
                    "p50 %.1f ms, p99 %.1f ms",
                    slow.load().percentileMillis(50), slow.load().percentileMillis(99)),
                fmt(
                    "Kafka e2e x %d hops: %.1f ms (p50 %d, p99 %d ms per hop)",
                    KAFKA_HOPS, hopsBaseline, e2e.p50Ms(), e2e.p99Ms()),
                fmt("%.1fx", slow.load().percentileMillis(50) / Math.max(hopsBaseline, 0.001)),
                "p50 <= 25 ms",
                met(slow.load().percentileMillis(50) <= 25 && slow.load().failures() == 0)));
      }
      if (streamingOn) {
        streaming(layout, keys, window, stackJson, rows);
      }
      long workerRss = Machine.peakRssBytes(stack.process("worker"));
      stack.stop("worker");

      if (submitOn) {
        if (jobBytes == 0) {
          jobBytes = 250; // about a 1-token job's message; measured when the pipeline runs
        }
        // Submit throughput.
        System.out.println("\n[submit] 64 connections (one account each), closed loop...");
        HttpLoad.Result noop =
            HttpLoad.closedLoop(
                port,
                i -> HttpLoad.request("GET", "/v1/ping", port, keys.get(i), null, null),
                a -> a.status() == 200,
                64,
                Duration.ofSeconds(3),
                window);
        System.out.println("  GET /v1/ping (authenticated no-op): " + noop);
        String body = "{\"type\":\"text\",\"input\":{\"prompt\":\"Hello\",\"max_tokens\":1}}";
        java.util.function.IntFunction<byte[]> job =
            i -> HttpLoad.request("POST", "/v1/jobs", port, keys.get(i), null, body);
        HttpLoad.Result submit =
            HttpLoad.closedLoop(
                port, job, a -> a.status() == 202, 64, Duration.ofSeconds(3), window);
        System.out.println("  POST /v1/jobs: " + submit);
        HttpLoad.Result oneAccount =
            HttpLoad.closedLoop(
                port,
                i -> HttpLoad.request("POST", "/v1/jobs", port, key, null, body),
                a -> a.status() == 202,
                64,
                Duration.ofSeconds(2),
                window);
        System.out.println("  POST /v1/jobs, all 64 on one account: " + oneAccount);
        Tools.Throughput producer =
            Tools.producerPerformance(
                layout.kafkaBootstrap(), 300_000, jobBytes, out.resolve("producer-perf.log"));
        System.out.printf(
            Locale.ROOT,
            "  Kafka ProducerPerformance (acks=all, %d B): %.0f records/s%n",
            jobBytes,
            producer.recordsPerSecond());
        double half = submit.perSecond() / 2;
        HttpLoad.Result halfLoad =
            HttpLoad.openLoop(
                port, job, a -> a.status() == 202, 64, half, Duration.ofSeconds(2), window);
        System.out.printf(Locale.ROOT, "  POST /v1/jobs at %.0f/s (half): %s%n", half, halfLoad);
        double lower = Math.min(noop.perSecond(), producer.recordsPerSecond());
        stackJson.put("noop", result(noop));
        stackJson.put("submit", result(submit));
        stackJson.put("submit_one_account", result(oneAccount));
        stackJson.put("submit_half_load", result(halfLoad));
        stackJson.put(
            "kafka_producer_performance",
            Map.of("records_per_s", round(producer.recordsPerSecond()), "record_bytes", jobBytes));
        rows.add(
            new Row(
                "submit: accepted jobs/s, 64 clients",
                fmt(
                    "%.0f/s (p50 %.1f, p99 %.1f ms)",
                    submit.perSecond(), submit.percentileMillis(50), submit.percentileMillis(99)),
                fmt("no-op GET /v1/ping: %.0f/s", noop.perSecond()),
                fmt("%.2f", submit.perSecond() / noop.perSecond()),
                ">= 0.5 of the lower baseline",
                met(submit.perSecond() >= 0.5 * lower && submit.failures() == 0)));
        rows.add(
            new Row(
                "submit: accepted jobs/s vs Kafka's producer",
                fmt("%.0f/s", submit.perSecond()),
                fmt("ProducerPerformance acks=all: %.0f/s", producer.recordsPerSecond()),
                fmt("%.3f", submit.perSecond() / producer.recordsPerSecond()),
                ">= 0.5 of the lower baseline",
                met(submit.perSecond() >= 0.5 * lower)));
        rows.add(
            new Row(
                "submit: accepted jobs/s, 64 clients on one account",
                fmt(
                    "%.0f/s (p50 %.1f, p99 %.1f ms)",
                    oneAccount.perSecond(),
                    oneAccount.percentileMillis(50),
                    oneAccount.percentileMillis(99)),
                fmt("64 accounts: %.0f/s", submit.perSecond()),
                fmt("%.2f", oneAccount.perSecond() / submit.perSecond()),
                "(per-account ceiling, no goal)",
                ""));
        rows.add(
            new Row(
                fmt("submit: latency at half load (%.0f/s)", half),
                fmt(
                    "p50 %.1f ms, p99 %.1f ms",
                    halfLoad.percentileMillis(50), halfLoad.percentileMillis(99)),
                fmt("no-op at full load: p99 %.1f ms", noop.percentileMillis(99)),
                "",
                "p99 <= 50 ms",
                met(halfLoad.percentileMillis(99) <= 50 && halfLoad.failures() == 0)));
      }
      // Memory.
      Map<String, Object> rss = new LinkedHashMap<>();
      rss.put("worker", workerRss);
      Map<String, Long> goals = Map.of("api", 512L, "worker", 1024L, "metering", 512L);
      for (String s : List.of("api", "worker", "metering", "kafka", "postgres")) {
        long bytes = s.equals("worker") ? workerRss : Machine.peakRssBytes(stack.process(s));
        rss.put(s, bytes);
        if (goals.containsKey(s)) {
          long mb = bytes / (1024 * 1024);
          rows.add(
              new Row(
                  "memory: peak RSS of " + s,
                  mb + " MB",
                  "heap limit -Xmx" + heap(layout, s),
                  "",
                  "<= " + goals.get(s) + " MB",
                  met(bytes > 0 && mb <= goals.get(s))));
        }
      }
      stackJson.put("peak_rss_bytes", rss);
    } finally {
      System.out.println("\n[stack] stopping...");
      stack.down();
      Runtime.getRuntime().removeShutdownHook(stopOnExit);
    }
  }

  /**
   * Streaming through the OpenAI route: what the platform adds to the engine's first token, at 10
   * and 50 concurrent streams, and streamed against whole answers in jobs/s (16-token jobs).
   */
  private static void streaming(
      StackLayout layout,
      List<String> keys,
      Duration window,
      Map<String, Object> stackJson,
      List<Row> rows)
      throws Exception {
    String api = layout.apiUrl();
    System.out.println("\n[streaming] warm-up: 10 streams for 10 s...");
    System.out.println("  " + StreamBench.run(api, keys, 10, 16, true, Duration.ofSeconds(10)));
    Map<String, Object> s = new LinkedHashMap<>();
    // One stream alone first: the platform's floor, with nothing queued ahead of it.
    for (int clients : List.of(1, 10, 50)) {
      StreamBench.Result r = StreamBench.run(api, keys, clients, 16, true, window);
      System.out.println("[streaming] " + r);
      s.put(
          "streams_" + clients,
          Map.of(
              "jobs", r.jobs(),
              "failures", r.failures(),
              "jobs_per_s", round(r.perSecond()),
              "ttft_p50_ms", round(r.ttft(50)),
              "ttft_p99_ms", round(r.ttft(99)),
              "overhead_p50_ms", round(r.overhead(50)),
              "overhead_p99_ms", round(r.overhead(99))));
      rows.add(
          new Row(
              "streaming: first token minus the engine's, " + clients + " streams",
              fmt("p50 %.1f ms, p99 %.1f ms", r.overhead(50), r.overhead(99)),
              fmt("TTFT p50 %.1f, p99 %.1f ms", r.ttft(50), r.ttft(99)),
              "",
              "p50 <= 20 ms, p99 <= 100 ms",
              met(r.overhead(50) <= 20 && r.overhead(99) <= 100 && r.failures() == 0)));
      if (clients == 10) {
        StreamBench.Result polled = StreamBench.run(api, keys, clients, 16, false, window);
        System.out.println("[streaming] whole answers: " + polled);
        s.put("whole_10", Map.of("jobs_per_s", round(polled.perSecond()), "jobs", polled.jobs()));
        rows.add(
            new Row(
                "streaming: jobs/s streamed vs whole answers, 10 clients",
                fmt("%.1f/s", r.perSecond()),
                fmt("whole: %.1f/s", polled.perSecond()),
                fmt("%.2f", r.perSecond() / polled.perSecond()),
                "(side by side, no goal)",
                ""));
      }
    }
    stackJson.put("streaming", s);
  }

  private static void metering(Path out, Map<String, Object> json, List<Row> rows)
      throws Exception {
    // Metering, on its own fresh broker and PostgreSQL.
    System.out.println("\n[metering] MeteringBenchmark (own JVM, fresh broker)...");
    Path meteringJson = out.resolve("metering.json");
    Tools.java(
        System.getProperty("java.class.path"),
        "com.kosmosx.bench.MeteringBenchmark",
        List.of("--events", "50000", "--json", meteringJson.toString()),
        out.resolve("metering.log"),
        Duration.ofMinutes(5));
    JsonNode metering = JSON.readTree(meteringJson.toFile());
    json.put("metering", metering);
    rows.add(
        new Row(
            "metering: exactly_once_v2 events/s",
            fmt("%d/s", metering.path("eos_events_per_s").asLong()),
            fmt("plain consumer: %d/s", metering.path("plain_events_per_s").asLong()),
            fmt("%.2f", metering.path("ratio").asDouble()),
            ">= 0.3",
            met(metering.path("ratio").asDouble() >= 0.3)));
    rows.add(
        new Row(
            "metering: event -> rollup row in PostgreSQL at 1,000/s",
            fmt(
                "p50 %d ms, p99 %d ms",
                metering.path("lag_p50_ms").asLong(), metering.path("lag_p99_ms").asLong()),
            "",
            "",
            "p99 <= 2,000 ms",
            met(
                metering.path("lag_p99_ms").asLong() <= 2_000
                    && metering.path("lag_rows").asLong()
                        == metering.path("lag_events").asLong())));
  }

  /** A markdown table (it reads as a table in a terminal too). */
  static String table(List<Row> rows) {
    StringBuilder b = new StringBuilder();
    b.append("| figure | result | baseline (same run) | ratio | goal | met |\n");
    b.append("| --- | --- | --- | --- | --- | --- |\n");
    for (Row r : rows) {
      b.append("| ")
          .append(String.join(" | ", r.figure(), r.result(), r.baseline(), r.ratio(), r.goal()))
          .append(" | ")
          .append(r.met())
          .append(" |\n");
    }
    return b.toString();
  }

  private static String heap(StackLayout layout, String service) {
    return layout.services().stream()
        .filter(s -> s.name().equals(service))
        .findFirst()
        .map(s -> s.heap())
        .orElse("?");
  }

  private static Map<String, Object> result(HttpLoad.Result r) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("per_s", round(r.perSecond()));
    m.put("p50_ms", round(r.percentileMillis(50)));
    m.put("p99_ms", round(r.percentileMillis(99)));
    m.put("requests", r.requests());
    m.put("failures", r.failures());
    return m;
  }

  static String met(boolean ok) {
    return ok ? "yes" : "**no**";
  }

  static String fmt(String f, Object... args) {
    return String.format(Locale.ROOT, f, args);
  }

  static double round(double v) {
    return Math.round(v * 100) / 100.0;
  }

  private static String git(Path root) {
    try {
      Process p =
          new ProcessBuilder("git", "rev-parse", "--short", "HEAD")
              .directory(root.toFile())
              .redirectErrorStream(true)
              .start();
      String s = new String(p.getInputStream().readAllBytes()).trim();
      return p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0 ? s : "unknown";
    } catch (Exception e) {
      return "unknown";
    }
  }

  /** A pipeline run: the client's view and where the time went. */
  record Pipeline(HttpLoad.Result load, Map<String, Object> stages) {
    @Override
    public String toString() {
      return load + "\n    " + stages;
    }
  }

  /**
   * 1-token jobs at {@code rate} (1 s warm-up, then the window), submit to succeeded; with the
   * stages of the window's jobs and the CPU each process spent per job.
   */
  private static Pipeline pipelineAt(
      LocalStack stack, StackLayout layout, int port, byte[] job, int rate, Duration window)
      throws Exception {
    Instant from = Instant.now();
    Profiles.Postgres pg =
        new Profiles.Postgres(layout.jdbcUrl(), com.kosmosx.platform.EmbeddedPostgresServer.USER);
    boolean statements = pg.reset();
    Map<String, Long> pg0 = pg.counters();
    Profiles.Broker broker = broker(stack);
    Map<String, Long> requests0 = broker == null ? Map.of() : broker.requests();
    Map<String, Double> cpu0 = cpu(stack);
    HttpLoad.Result r =
        HttpLoad.openLoop(
            port,
            i -> job,
            a -> a.status() == 200 && a.body().contains("\"status\":\"succeeded\""),
            // Each request holds its connection until its job ends: enough connections that the
            // client never throttles the rate (16 did at 100/s, at ~160 ms a job).
            256,
            rate,
            Duration.ofSeconds(1),
            window);
    Map<String, Double> cpu1 = cpu(stack);
    Map<String, Object> stages = stages(layout, from);
    double jobs = rate * (1 + window.toSeconds());
    cpu1.forEach(
        (k, v) -> stages.put(k + "_cpu_ms_per_job", round((v - cpu0.get(k)) * 1000 / jobs)));
    stages.put(
        "stack_cpu_ms_per_job",
        round(STACK.stream().mapToDouble(k -> (cpu1.get(k) - cpu0.get(k)) * 1000 / jobs).sum()));
    if (broker != null) {
      stages.put("kafka_requests_per_job", Profiles.perJob(requests0, broker.requests(), jobs));
      broker.close();
    }
    Map<String, Long> pg1 = pg.counters();
    Map<String, Object> pgPerJob = new LinkedHashMap<>();
    pg1.forEach((k, v) -> pgPerJob.put(k, round((v - pg0.get(k)) / jobs)));
    stages.put("postgres_per_job", pgPerJob);
    if (statements) {
      stages.put("postgres_statements_per_job", pg.statements(jobs, 12));
    }
    return new Pipeline(r, stages);
  }

  /**
   * The broker's fixed cost of a transaction, with Kafka's own ProducerPerformance on the stack's
   * broker: the same records at the same rate (200/s, the job message's size), plain and then in
   * transactions of about one record each (committed every 5 ms), as the worker's are at low rates.
   * The broker's CPU per record of each, and per committed transaction (its EndTxn count).
   */
  private static void transactionCost(
      LocalStack stack,
      StackLayout layout,
      int bytes,
      Path out,
      Map<String, Object> stackJson,
      List<Row> rows)
      throws Exception {
    Profiles.Broker broker = broker(stack);
    if (broker == null) {
      return;
    }
    long pid = stack.process("kafka").orElseThrow().pid();
    int records = 2_000;
    double[] cpuMs = new double[2];
    long transactions = 0;
    for (int tx = 0; tx < 2; tx++) {
      Map<String, Long> r0 = broker.requests();
      double c0 = Machine.cpuSeconds(pid);
      Tools.producerPerformance(
          layout.kafkaBootstrap(),
          records,
          bytes,
          200,
          tx == 0 ? 0 : 5,
          out.resolve(tx == 0 ? "producer-perf-200.log" : "producer-perf-tx.log"));
      cpuMs[tx] = (Machine.cpuSeconds(pid) - c0) * 1000;
      if (tx == 1) {
        transactions = broker.requests().getOrDefault("EndTxn", 0L) - r0.getOrDefault("EndTxn", 0L);
      }
    }
    broker.close();
    double perTx = transactions == 0 ? 0 : (cpuMs[1] - cpuMs[0]) / transactions;
    System.out.printf(
        Locale.ROOT,
        "  Kafka ProducerPerformance at 200/s: broker CPU %.2f ms/record plain, %.2f ms/record in"
            + " %d transactions: %.2f ms per transaction%n",
        cpuMs[0] / records,
        cpuMs[1] / records,
        transactions,
        perTx);
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("records", records);
    m.put("broker_cpu_ms_per_record_plain", round(cpuMs[0] / records));
    m.put("broker_cpu_ms_per_record_transactional", round(cpuMs[1] / records));
    m.put("transactions", transactions);
    m.put("broker_cpu_ms_per_transaction", round(perTx));
    stackJson.put("kafka_transaction_cost", m);
    rows.add(
        new Row(
            "Kafka: broker CPU per transaction (ProducerPerformance, 200 records/s)",
            fmt("%.2f ms", perTx),
            fmt("per plain record: %.2f ms", cpuMs[0] / records),
            "",
            "(the floor under a job's Kafka CPU; no goal)",
            ""));
  }

  /** The broker's request meters, or null (then the figures say so) if it cannot be attached. */
  private static Profiles.Broker broker(LocalStack stack) {
    try {
      return Profiles.Broker.attach(stack.process("kafka").orElseThrow().pid());
    } catch (Exception e) {
      System.out.println("  (broker request metrics unavailable: " + e + ")");
      return null;
    }
  }

  /**
   * Idle CPU of each process: after a settle period (the warm-up's last requests, compilations and
   * commits finish), a 10 s window with no traffic at all.
   */
  private static void idle(LocalStack stack, Map<String, Object> stackJson, List<Row> rows)
      throws Exception {
    Thread.sleep(10_000);
    Map<String, Double> idle0 = cpu(stack);
    Thread.sleep(10_000);
    Map<String, Double> idle1 = cpu(stack);
    Map<String, Object> idle = new LinkedHashMap<>();
    double total = 0;
    for (String k : STACK) {
      double v = (idle1.get(k) - idle0.get(k)) * 1000 / 10;
      total += v;
      idle.put(k, round(v));
      double goal = IDLE_GOAL_MS_PER_S.get(k);
      rows.add(
          new Row(
              "idle CPU: " + k,
              fmt("%.1f ms/s", v),
              calibration,
              "",
              fmt("<= %.0f ms/s", goal),
              met(v <= goal)));
    }
    idle.put("stack", round(total));
    rows.add(
        new Row(
            "idle CPU: whole stack",
            fmt("%.1f ms/s", total),
            calibration,
            "",
            "<= 20 ms/s",
            met(total <= 20)));
    System.out.println("  idle CPU, ms per second by process: " + idle);
    stackJson.put("idle_cpu_ms_per_s", idle);
    stackJson.put("idle_cpu_goal_ms_per_s", IDLE_GOAL_MS_PER_S);
  }

  /** CPU per 1-token job at 100 jobs/s: a row per process and one for the stack. */
  private static void cpuPerJobRows(Map<String, Object> stages, List<Row> rows) {
    for (String k : STACK) {
      double v = ((Number) stages.get(k + "_cpu_ms_per_job")).doubleValue();
      double goal = CPU_PER_JOB_GOAL_MS.get(k);
      rows.add(
          new Row(
              "CPU per 1-token job at 100 jobs/s: " + k,
              fmt("%.2f ms", v),
              calibration,
              "",
              fmt("<= %.1f ms", goal),
              met(v <= goal)));
    }
    double total = ((Number) stages.get("stack_cpu_ms_per_job")).doubleValue();
    rows.add(
        new Row(
            "CPU per 1-token job at 100 jobs/s: whole stack",
            fmt("%.2f ms", total),
            calibration,
            "",
            "<= 8 ms",
            met(total <= 8)));
  }

  /** CPU seconds so far of each process of the stack (and of this load generator). */
  private static Map<String, Double> cpu(LocalStack stack) {
    Map<String, Double> m = new LinkedHashMap<>();
    for (String s : List.of("api", "worker", "metering", "kafka")) {
      m.put(s, stack.process(s).map(h -> Machine.cpuSeconds(h.pid())).orElse(0.0));
    }
    m.put("postgres", Machine.cpuSecondsOfAll("postgres"));
    m.put("load_generator", Machine.cpuSeconds(ProcessHandle.current().pid()));
    return m;
  }

  /**
   * Percentiles of the pipeline's stages from the job rows (all jobs so far are the pipeline's):
   * queued (created to the worker's start), running (start to the worker's end). What is left of
   * the client's latency is making the end visible: the worker's commit, the projection, the wake.
   */
  private static Map<String, Object> stages(StackLayout layout, Instant from) throws Exception {
    Map<String, Object> m = new LinkedHashMap<>();
    try (var c =
            java.sql.DriverManager.getConnection(
                layout.jdbcUrl(), com.kosmosx.platform.EmbeddedPostgresServer.USER, "");
        var ps =
            c.prepareStatement(
                "SELECT"
                    + " percentile_cont(0.5) WITHIN GROUP (ORDER BY"
                    + "  extract(epoch FROM started_at - created_at)),"
                    + " percentile_cont(0.99) WITHIN GROUP (ORDER BY"
                    + "  extract(epoch FROM started_at - created_at)),"
                    + " percentile_cont(0.5) WITHIN GROUP (ORDER BY"
                    + "  extract(epoch FROM completed_at - started_at)),"
                    + " percentile_cont(0.99) WITHIN GROUP (ORDER BY"
                    + "  extract(epoch FROM completed_at - started_at))"
                    + " FROM jobs WHERE status = 'succeeded' AND created_at >= ?")) {
      ps.setTimestamp(1, java.sql.Timestamp.from(from));
      java.sql.ResultSet rs = ps.executeQuery();
      rs.next();
      m.put("queued_p50_ms", round(rs.getDouble(1) * 1000));
      m.put("queued_p99_ms", round(rs.getDouble(2) * 1000));
      m.put("running_p50_ms", round(rs.getDouble(3) * 1000));
      m.put("running_p99_ms", round(rs.getDouble(4) * 1000));
    }
    return m;
  }

  /** The size of a submitted 1-token job's message on the shared jobs topic. */
  private static int jobMessageSize(StackLayout layout) {
    Map<String, Object> p = new LinkedHashMap<>();
    p.put("bootstrap.servers", layout.kafkaBootstrap());
    p.put("group.id", "bench-size-" + UUID.randomUUID());
    p.put("auto.offset.reset", "earliest");
    try (var c = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer())) {
      c.subscribe(List.of(Topics.JOBS_SHARED.name()));
      long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (System.nanoTime() < end) {
        for (var r : c.poll(Duration.ofMillis(200))) {
          return r.value().length;
        }
      }
    }
    throw new IllegalStateException("no job message on " + Topics.JOBS_SHARED.name());
  }

  /** Creates a benchmark topic with the jobs topic's partition count. */
  static void createTopic(String bootstrap, String name) throws Exception {
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
      int partitions =
          admin
              .describeTopics(List.of(Topics.JOBS_SHARED.name()))
              .allTopicNames()
              .get()
              .get(Topics.JOBS_SHARED.name())
              .partitions()
              .size();
      if (!admin.listTopics().names().get().contains(name)) {
        admin
            .createTopics(List.of(new NewTopic(name, Optional.of(partitions), Optional.empty())))
            .all()
            .get();
      }
    }
  }
}
