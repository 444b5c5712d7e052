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
 * a fresh local stack while processes are SIGKILLed and started again, every 10 to 20 s.
 *
 * <ul>
 *   <li>{@code ./kosmos soak [jobs] [clients]}: one broker, one API, two workers; a random worker
 *       is killed each time.
 *   <li>{@code ./kosmos soak --cluster [jobs] [clients]}: three KRaft brokers (replication factor
 *       3, min.insync.replicas 2), two API instances, two workers; the victims rotate broker,
 *       worker, API (a random one of each kind). Clients spread over both APIs, each job with an
 *       Idempotency-Key, and retry a failed call on the other instance with the same key.
 * </ul>
 *
 * Afterwards every accepted job must be terminal; succeeded jobs = distinct usage events = webhook
 * completions of succeeded jobs (raw usage events are printed too: a re-run job's duplicate is
 * deduplicated by metering); and the month's reconciliation (job records against metering's rollups
 * against the invoice, units and amounts) must match exactly. Prints the figures; exits non-zero on
 * a mismatch.
 */
public final class Soak {
  private static final HttpClient HTTP =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String[] PROMPTS = {
    "Once upon a time", "The weather today", "A cat sits", "Hello!", "The train leaves"
  };

  private Soak() {}

  /**
   * What to run.
   *
   * @param jobs jobs to submit
   * @param clients concurrent clients
   * @param brokers Kafka nodes (3: replication factor 3, min.insync.replicas 2)
   * @param apis API instances
   * @param workers workers
   * @param kinds the kill rotation ({@code broker}, {@code worker}, {@code api}); empty: no chaos
   * @param killAfterJobs with {@code kinds} of one element: a single kill once that many jobs are
   *     accepted (the victim stays down), instead of a kill every 10-20 s
   */
  public record Plan(
      int jobs,
      int clients,
      int brokers,
      int apis,
      int workers,
      List<String> kinds,
      int killAfterJobs) {

    boolean cluster() {
      return brokers > 1;
    }
  }

  /** What happened. */
  public record Result(
      int accepted,
      Map<String, Integer> byStatus,
      Map<String, Integer> kills,
      double seconds,
      int rawUsage,
      int distinctUsage,
      int completions,
      int deliveries,
      boolean reconciled,
      String reconciliation) {

    public int terminal() {
      return byStatus.values().stream().mapToInt(Integer::intValue).sum()
          - byStatus.getOrDefault("queued", 0)
          - byStatus.getOrDefault("running", 0);
    }

    public int succeeded() {
      return byStatus.getOrDefault("succeeded", 0);
    }

    public boolean ok() {
      return terminal() == accepted
          && succeeded() == distinctUsage
          && succeeded() == completions
          && reconciled;
    }
  }

  public static void main(String[] args) throws Exception {
    boolean cluster = List.of(args).contains("--cluster");
    List<String> numbers = java.util.Arrays.stream(args).filter(a -> !a.startsWith("--")).toList();
    int jobs = numbers.size() > 0 ? Integer.parseInt(numbers.get(0)) : 10_000;
    int clients = numbers.size() > 1 ? Integer.parseInt(numbers.get(1)) : 16;
    Path root = Path.of(System.getProperty("kosmos.root", ".")).toAbsolutePath().normalize();
    Plan plan =
        new Plan(
            jobs,
            clients,
            cluster ? 3 : 1,
            cluster ? 2 : 1,
            2,
            cluster ? List.of("broker", "worker", "api") : List.of("worker"),
            0);
    Result r = run(root, Files.createTempDirectory("kosmos-soak"), plan, System.out);
    System.exit(r.ok() ? 0 : 1);
  }

  /**
   * Runs the soak on a fresh stack under {@code home}; prints progress and figures to {@code out}.
   */
  public static Result run(Path root, Path home, Plan plan, java.io.PrintStream out)
      throws Exception {
    Map<String, String> env = StackLayout.onFreePorts(home);
    env.put("KOSMOS_WORKERS", String.valueOf(plan.workers()));
    env.put("KOSMOS_BROKERS", String.valueOf(plan.brokers()));
    env.put("KOSMOS_APIS", String.valueOf(plan.apis()));
    String admin = "kx_soak_admin_" + UUID.randomUUID().toString().replace("-", "");
    env.put("KOSMOS_BOOTSTRAP_ADMIN_KEY", admin);
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
    try {
      if (stack.up(true) != 0) {
        throw new IllegalStateException("the stack did not start");
      }
      String key = StackAccounts.newKey(layout, "soak");
      Set<String> accepted = ConcurrentHashMap.newKeySet();
      Map<String, Integer> kills = new java.util.TreeMap<>();
      AtomicInteger next = new AtomicInteger();
      AtomicInteger retries = new AtomicInteger();
      long t0 = System.nanoTime();
      Thread killer =
          new Thread(() -> chaos(stack, layout, plan, accepted, kills, t0, out), "soak-killer");
      killer.start();
      ExecutorService pool = Executors.newFixedThreadPool(plan.clients());
      for (int c = 0; c < plan.clients(); c++) {
        pool.submit(
            () -> {
              int i;
              while ((i = next.getAndIncrement()) < plan.jobs()) {
                String body =
                    "{\"type\":\"text\",\"input\":{\"prompt\":\""
                        + PROMPTS[i % PROMPTS.length]
                        + "\",\"max_tokens\":"
                        + (1 + i % 8)
                        + "},\"webhook\":{\"url\":\""
                        + hook
                        + "\"}}";
                accepted.add(submit(layout, i, key, body, retries));
              }
              return null;
            });
      }
      pool.shutdown();
      pool.awaitTermination(2, TimeUnit.HOURS);
      double submitSecs = (System.nanoTime() - t0) / 1e9;
      out.printf(
          Locale.ROOT,
          "  submitted %d jobs in %.1f s (%d calls retried after 429/503 or a dead instance)%n",
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
      JsonNode rec = reconcile(layout, admin);
      Result r =
          new Result(
              accepted.size(),
              byStatus,
              Map.copyOf(kills),
              allSecs,
              usage.get("raw"),
              usage.get("distinct"),
              completions.size(),
              deliveries.get(),
              rec.path("matches").asBoolean(),
              rec.toString());
      out.println();
      out.printf(
          "soak results (%d broker(s), %d API(s), %d workers)%n",
          plan.brokers(), plan.apis(), plan.workers());
      out.printf("  jobs accepted              %d%n", r.accepted());
      out.printf("  terminal by status         %s%n", byStatus);
      out.printf("  kills                      %s%n", kills);
      out.printf(
          Locale.ROOT,
          "  wall time                  %.1f s (%.0f jobs/s)%n",
          allSecs,
          r.accepted() / allSecs);
      out.printf("  usage events (raw)         %d%n", r.rawUsage());
      out.printf("  usage events (distinct)    %d%n", r.distinctUsage());
      out.printf(
          "  webhook completions        %d (of %d deliveries received)%n",
          r.completions(), r.deliveries());
      out.printf(
          "  reconciliation             %s%n",
          r.reconciled() ? "matches (units and amounts: jobs = rollups = invoice)" : rec);
      // Raw usage events may exceed succeeded jobs: a worker killed after a job's transaction but
      // before the batch's lowest offset moved re-runs it; metering deduplicates by job id.
      out.println(
          r.ok()
              ? "  OK: every job terminal; succeeded = distinct usage events = webhook completions;"
                  + " reconciliation exact"
              : "  MISMATCH");
      return r;
    } finally {
      receiver.stop(0);
      stack.down();
    }
  }

  /** Kills (and restarts) processes as the plan says until interrupted. */
  private static void chaos(
      LocalStack stack,
      StackLayout layout,
      Plan plan,
      Set<String> accepted,
      Map<String, Integer> kills,
      long t0,
      java.io.PrintStream out) {
    if (plan.kinds().isEmpty()) {
      return;
    }
    Random r = new Random(7);
    try {
      if (plan.killAfterJobs() > 0) {
        while (accepted.size() < plan.killAfterJobs()) {
          Thread.sleep(20);
        }
        kill(stack, layout, plan.kinds().get(0), r, kills, t0, out);
        return; // it stays down
      }
      for (int n = 0; !Thread.currentThread().isInterrupted(); n++) {
        Thread.sleep(10_000 + r.nextInt(10_000));
        kill(stack, layout, plan.kinds().get(n % plan.kinds().size()), r, kills, t0, out);
        stack.up(true);
      }
    } catch (InterruptedException e) {
      // done
    } catch (Exception e) {
      out.println("  killer stopped: " + e);
    }
  }

  private static void kill(
      LocalStack stack,
      StackLayout layout,
      String kind,
      Random r,
      Map<String, Integer> kills,
      long t0,
      java.io.PrintStream out)
      throws Exception {
    int count =
        switch (kind) {
          case "broker" -> layout.brokers();
          case "api" -> layout.apis();
          default -> layout.workers();
        };
    int i = 1 + r.nextInt(count);
    String base = kind.equals("broker") ? "kafka" : kind;
    String victim = i == 1 ? base : base + "-" + i;
    stack.kill9(victim);
    synchronized (kills) {
      kills.merge(kind, 1, Integer::sum);
    }
    out.printf(
        Locale.ROOT, "  [%5.1f s] killed %s (kill -9)%n", (System.nanoTime() - t0) / 1e9, victim);
  }

  /** The month's reconciliation, polled until it matches (metering commits every few seconds). */
  private static JsonNode reconcile(StackLayout layout, String admin) throws Exception {
    String month = java.time.YearMonth.now(java.time.ZoneOffset.UTC).toString();
    JsonNode rec = JSON.createObjectNode();
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
    while (System.nanoTime() < end) {
      try {
        HttpResponse<String> resp =
            HTTP.send(
                HttpRequest.newBuilder(
                        URI.create(layout.apiUrl() + "/v1/admin/reconciliation?month=" + month))
                    .timeout(Duration.ofSeconds(30))
                    .header("Authorization", "Bearer " + admin)
                    .build(),
                HttpResponse.BodyHandlers.ofString());
        rec = JSON.readTree(resp.body());
        if (rec.path("matches").asBoolean()) {
          return rec;
        }
      } catch (java.io.IOException e) {
        // the API may be restarting
      }
      Thread.sleep(1_000);
    }
    return rec;
  }

  /**
   * Submits with an Idempotency-Key, retrying on 429/503 and connection errors like a good client.
   */
  private static String submit(
      StackLayout layout, int job, String key, String body, AtomicInteger retries)
      throws Exception {
    String idem = UUID.randomUUID().toString();
    for (int attempt = 0; ; attempt++) {
      // Spread over the API instances; a retry goes to the next one, with the same key.
      int api = 1 + (job + attempt) % layout.apis();
      try {
        HttpResponse<String> r =
            HTTP.send(
                HttpRequest.newBuilder(
                        URI.create("http://localhost:" + layout.apiPort(api) + "/v1/jobs"))
                    .timeout(Duration.ofSeconds(30))
                    .header("Content-Type", "application/json")
                    .header("Authorization", "Bearer " + key)
                    .header("Idempotency-Key", idem)
                    .POST(HttpRequest.BodyPublishers.ofString(body))
                    .build(),
                HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() == 202 || r.statusCode() == 200) {
          return JSON.readTree(r.body()).path("id").asText();
        }
        if (r.statusCode() != 429 && r.statusCode() != 503) {
          throw new IllegalStateException("submit answered " + r.statusCode() + ": " + r.body());
        }
      } catch (java.io.IOException e) {
        if (attempt > 200) {
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
