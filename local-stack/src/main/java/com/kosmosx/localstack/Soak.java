package com.kosmosx.localstack;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.kosmosx.contracts.Topics;
import com.kosmosx.contracts.UsageEvent;
import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * The soak test: N jobs (default 10,000, max_tokens 1 to 8, each with a completion webhook) through
 * a fresh local stack with two workers, one of which is killed with SIGKILL at random every 10 to
 * 20 s and started again. Afterwards every accepted job must be terminal, and succeeded jobs =
 * distinct usage events = raw usage events = webhook completions of succeeded jobs (raw usage
 * events are printed too: a re-run job's duplicate is deduplicated by metering). Prints the
 * figures; exits non-zero on a mismatch.
 *
 * <pre>./kosmos soak [jobs] [clients]</pre>
 */
public final class Soak {
  private static final HttpClient HTTP =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String[] PROMPTS = {
    "Once upon a time", "The weather today", "A cat sits", "Hello!", "The train leaves"
  };

  private Soak() {}

  public static void main(String[] args) throws Exception {
    int jobs = args.length > 0 ? Integer.parseInt(args[0]) : 10_000;
    int clients = args.length > 1 ? Integer.parseInt(args[1]) : 16;
    Path root = Path.of(System.getProperty("kosmos.root", ".")).toAbsolutePath().normalize();
    Path home = Files.createTempDirectory("kosmos-soak");
    Map<String, String> env = StackLayout.onFreePorts(home);
    env.put("KOSMOS_WORKERS", "2");
    env.put("KOSMOS_RATE_JOBS_PER_MINUTE", "1000000");
    env.put("KOSMOS_MAX_UNFINISHED_JOBS", "1000000");
    StackLayout layout = StackLayout.fromEnvironment(root, env);
    LocalStack stack = new LocalStack(layout, System.getProperty("java.class.path"));
    Set<String> completions = ConcurrentHashMap.newKeySet();
    AtomicInteger deliveries = new AtomicInteger();
    HttpServer receiver = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
    receiver.setExecutor(Executors.newFixedThreadPool(8));
    receiver.createContext(
        "/hook",
        ex -> {
          JsonNode body = JSON.readTree(ex.getRequestBody().readAllBytes());
          deliveries.incrementAndGet();
          if (body.path("data").path("status").asText().equals("succeeded")) {
            completions.add(ex.getRequestHeaders().getFirst("webhook-id"));
          }
          ex.sendResponseHeaders(204, -1);
          ex.close();
        });
    receiver.start();
    String hook = "http://127.0.0.1:" + receiver.getAddress().getPort() + "/hook";
    int rc = 1;
    try {
      if (stack.up(true) != 0) {
        throw new IllegalStateException("the stack did not start");
      }
      String key = StackAccounts.newKey(layout, "soak");
      Set<String> accepted = ConcurrentHashMap.newKeySet();
      AtomicInteger kills = new AtomicInteger();
      AtomicInteger next = new AtomicInteger();
      AtomicInteger retries = new AtomicInteger();
      long t0 = System.nanoTime();
      Thread killer =
          new Thread(
              () -> {
                Random r = new Random(7);
                try {
                  while (!Thread.currentThread().isInterrupted()) {
                    Thread.sleep(10_000 + r.nextInt(10_000));
                    String victim = r.nextBoolean() ? "worker" : "worker-2";
                    stack.kill9(victim);
                    kills.incrementAndGet();
                    System.out.printf(
                        Locale.ROOT,
                        "  [%5.1f s] killed %s%n",
                        (System.nanoTime() - t0) / 1e9,
                        victim);
                    stack.up(true);
                  }
                } catch (InterruptedException e) {
                  // done
                } catch (Exception e) {
                  System.out.println("  killer stopped: " + e);
                }
              },
              "soak-killer");
      killer.start();
      ExecutorService pool = Executors.newFixedThreadPool(clients);
      for (int c = 0; c < clients; c++) {
        pool.submit(
            () -> {
              int i;
              while ((i = next.getAndIncrement()) < jobs) {
                String body =
                    "{\"type\":\"text\",\"input\":{\"prompt\":\""
                        + PROMPTS[i % PROMPTS.length]
                        + "\",\"max_tokens\":"
                        + (1 + i % 8)
                        + "},\"webhook\":{\"url\":\""
                        + hook
                        + "\"}}";
                accepted.add(submit(layout, key, body, retries));
              }
              return null;
            });
      }
      pool.shutdown();
      pool.awaitTermination(2, TimeUnit.HOURS);
      double submitSecs = (System.nanoTime() - t0) / 1e9;
      System.out.printf(
          Locale.ROOT,
          "  submitted %d jobs in %.1f s (%d retried after 429/503)%n",
          accepted.size(),
          submitSecs,
          retries.get());
      Map<String, Integer> byStatus = awaitAllTerminal(layout, accepted.size());
      killer.interrupt();
      killer.join();
      double allSecs = (System.nanoTime() - t0) / 1e9;
      stack.up(true);
      Map<String, Integer> usage = usage(layout, accepted);
      long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
      int succeeded = byStatus.getOrDefault("succeeded", 0);
      while (completions.size() < succeeded && System.nanoTime() < end) {
        Thread.sleep(500);
      }
      System.out.println();
      System.out.println("soak results");
      System.out.printf("  jobs accepted              %d%n", accepted.size());
      System.out.printf("  terminal by status         %s%n", byStatus);
      System.out.printf("  worker kills               %d%n", kills.get());
      System.out.printf(
          Locale.ROOT,
          "  wall time                  %.1f s (%.0f jobs/s)%n",
          allSecs,
          accepted.size() / allSecs);
      System.out.printf("  usage events (raw)         %d%n", usage.get("raw"));
      System.out.printf("  usage events (distinct)    %d%n", usage.get("distinct"));
      System.out.printf(
          "  webhook completions        %d (of %d deliveries received)%n",
          completions.size(), deliveries.get());
      int terminal =
          byStatus.values().stream().mapToInt(Integer::intValue).sum()
              - byStatus.getOrDefault("queued", 0)
              - byStatus.getOrDefault("running", 0);
      // Raw usage events may exceed succeeded jobs: a worker killed after a job's transaction but
      // before the batch's lowest offset moved re-runs it; metering deduplicates by job id.
      boolean ok =
          terminal == accepted.size()
              && succeeded == usage.get("distinct")
              && succeeded == completions.size();
      System.out.println(
          ok
              ? "  OK: every job terminal; succeeded = distinct usage events = webhook completions"
              : "  MISMATCH");
      rc = ok ? 0 : 1;
    } finally {
      receiver.stop(0);
      stack.down();
    }
    System.exit(rc);
  }

  /**
   * Submits with an Idempotency-Key, retrying on 429/503 and connection errors like a good client.
   */
  private static String submit(StackLayout layout, String key, String body, AtomicInteger retries)
      throws Exception {
    String idem = UUID.randomUUID().toString();
    for (int attempt = 0; ; attempt++) {
      try {
        HttpResponse<String> r =
            HTTP.send(
                HttpRequest.newBuilder(URI.create(layout.apiUrl() + "/v1/jobs"))
                    .timeout(Duration.ofSeconds(30))
                    .header("Content-Type", "application/json")
                    .header("Authorization", "Bearer " + key)
                    .header("Idempotency-Key", idem)
                    .POST(HttpRequest.BodyPublishers.ofString(body))
                    .build(),
                HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() == 202) {
          return JSON.readTree(r.body()).path("id").asText();
        }
        if (r.statusCode() != 429 && r.statusCode() != 503) {
          throw new IllegalStateException("submit answered " + r.statusCode() + ": " + r.body());
        }
      } catch (java.io.IOException e) {
        if (attempt > 20) {
          throw e;
        }
      }
      retries.incrementAndGet();
      Thread.sleep(200L * Math.min(attempt + 1, 10));
    }
  }

  private static Map<String, Integer> awaitAllTerminal(StackLayout layout, int expected)
      throws Exception {
    long end = System.nanoTime() + TimeUnit.MINUTES.toNanos(30);
    Map<String, Integer> byStatus = Map.of();
    while (System.nanoTime() < end) {
      byStatus = new HashMap<>();
      try (Connection c = DriverManager.getConnection(layout.jdbcUrl(), "postgres", "");
          ResultSet rs =
              c.createStatement()
                  .executeQuery("SELECT status, count(*) FROM jobs GROUP BY status")) {
        while (rs.next()) {
          byStatus.put(rs.getString(1), rs.getInt(2));
        }
      }
      int open = byStatus.getOrDefault("queued", 0) + byStatus.getOrDefault("running", 0);
      int total = byStatus.values().stream().mapToInt(Integer::intValue).sum();
      if (open == 0 && total >= expected) {
        return byStatus;
      }
      Thread.sleep(1_000);
    }
    return byStatus;
  }

  private static Map<String, Integer> usage(StackLayout layout, Set<String> jobs) {
    Properties p = new Properties();
    p.put("bootstrap.servers", layout.kafkaBootstrap());
    p.put("group.id", "soak-" + UUID.randomUUID());
    p.put("auto.offset.reset", "earliest");
    p.put("isolation.level", "read_committed");
    int raw = 0;
    Set<String> distinct = new HashSet<>();
    try (var c = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer())) {
      c.subscribe(List.of(Topics.USAGE.name()));
      long quietSince = System.nanoTime();
      while (System.nanoTime() - quietSince < TimeUnit.SECONDS.toNanos(5)) {
        var records = c.poll(Duration.ofMillis(500));
        if (!records.isEmpty()) {
          quietSince = System.nanoTime();
        }
        for (var r : records) {
          UsageEvent e = Topics.USAGE.deserializeValue(r.value());
          if (jobs.contains(e.eventId())) {
            raw++;
            distinct.add(e.eventId());
          }
        }
      }
    }
    return Map.of("raw", raw, "distinct", distinct.size());
  }
}
