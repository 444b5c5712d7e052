package com.kosmosx.localstack;

import static org.assertj.core.api.Assertions.assertThat;

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
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Crashes with real processes (the local stack's launcher) on a replicated Kafka cluster: three
 * KRaft brokers, every topic (internal ones too) replicated 3 times with min.insync.replicas 2, as
 * {@code ./kosmos up --brokers 3} runs it. A worker killed with SIGKILL in the middle of a job, a
 * poison job, metering killed mid-stream, and a broker killed while a batch of jobs runs, staying
 * down. Nothing accepted is lost, and a re-run job is seen once: one result, one usage event, one
 * webhook event id; metered usage equals the job records. (A single broker's outage and return is
 * LocalStackIT's; the soak, {@code ./kosmos soak --cluster}, kills every kind of process.)
 */
class CrashIT {
  private static final HttpClient HTTP = HttpClient.newHttpClient();
  private static final String ADMIN = "kx_live_crash_test_bootstrap_admin_key_0123456789";
  private static final ObjectMapper JSON = new ObjectMapper();

  private static StackLayout layout;
  private static LocalStack stack;

  /** One stack for the crash scenarios (each starts from a healthy stack and leaves one). */
  @BeforeAll
  static void up() throws Exception {
    Path home = Files.createTempDirectory("kosmos-crash");
    Map<String, String> env = StackLayout.onFreePorts(home);
    env.put("KOSMOS_BOOTSTRAP_ADMIN_KEY", ADMIN);
    env.put("KOSMOS_BROKERS", "3");
    // Two deaths with a job running make it poison (3 by default): one restart fewer to wait for.
    env.put("KOSMOS_WORKER_MAX_ATTEMPTS", "2");
    layout = StackLayout.fromEnvironment(Path.of("..").toAbsolutePath().normalize(), env);
    stack = new LocalStack(layout, System.getProperty("java.class.path"));
    assertThat(stack.up(true)).isZero();
  }

  @AfterAll
  static void down() {
    if (stack != null) {
      stack.down();
    }
  }

  /** Metering SIGKILLed mid-stream with plan changes in flight (see {@link MeteringCrash}). */
  @Test
  void rollupsAndReconciliationAreExactAcrossAKilledMeteringProcess() throws Exception {
    MeteringCrash.run(layout, stack, ADMIN);
  }

  @Test
  void aKilledWorkerOrBrokerLosesNothingAndBillsOnce() throws Exception {
    assertThat(layout.brokers()).isEqualTo(3);
    List<String> hooks = Collections.synchronizedList(new ArrayList<>());
    HttpServer receiver = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    receiver.createContext(
        "/hook",
        ex -> {
          ex.getRequestBody().readAllBytes();
          hooks.add(ex.getRequestHeaders().getFirst("webhook-id"));
          ex.sendResponseHeaders(204, -1);
          ex.close();
        });
    receiver.start();
    try {
      String key = StackAccounts.newKey(layout, "crash");

      // A job whose prompt takes the worker seconds to prefill: killed in the middle of it.
      String prompt = "The quick brown fox jumps over the lazy dog. ".repeat(750);
      String hook = "http://127.0.0.1:" + receiver.getAddress().getPort() + "/hook";
      String job =
          submit(
              layout,
              key,
              "{\"type\":\"text\",\"input\":{\"prompt\":\""
                  + prompt
                  + "\",\"max_tokens\":16},\"webhook\":{\"url\":\""
                  + hook
                  + "\"}}");
      long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (!status(layout, key, job).equals("running")) {
        assertThat(System.nanoTime()).isLessThan(end);
        Thread.sleep(20);
      }
      stack.kill9("worker");
      assertThat(status(layout, key, job)).isEqualTo("running");
      assertThat(stack.up(true)).isZero(); // restarts the worker

      JsonNode done = awaitTerminal(layout, key, job);
      assertThat(done.path("status").asText()).isEqualTo("succeeded");
      // The job ran twice (two starts) but is seen once.
      List<UsageEvent> usage = usageEvents(layout, List.of(job), 1);
      assertThat(usage).hasSize(1);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (hooks.isEmpty() && System.nanoTime() < deadline) {
        Thread.sleep(100);
      }
      Thread.sleep(1_000);
      assertThat(hooks).containsOnly("msg_" + job + "_completed");
      System.out.printf(
          "worker crash: job %s succeeded once, %d usage event, %d webhook delivery(ies)%n",
          job, usage.size(), hooks.size());

      // A job that is running every time the worker dies (twice here) is dead-lettered, and ends
      // failed with the reason, instead of killing workers forever.
      String poison =
          submit(
              layout,
              key,
              "{\"type\":\"text\",\"input\":{\"prompt\":\"" + prompt + "\",\"max_tokens\":16}}");
      for (int crash = 1; crash <= 2; crash++) {
        awaitStarts(layout, poison, crash);
        stack.kill9("worker");
        assertThat(stack.up(true)).isZero();
      }
      JsonNode dead = awaitTerminal(layout, key, poison);
      assertThat(dead.path("status").asText()).isEqualTo("failed");
      assertThat(dead.path("error").path("code").asText()).isEqualTo("dead_lettered");
      assertThat(dead.path("error").path("message").asText()).contains("2 times");
      assertThat(usageEvents(layout, List.of(poison), 0)).isEmpty();
      System.out.printf(
          "poison job: dead-lettered after 2 worker crashes: %s%n", dead.path("error"));

      // A broker killed while a batch of jobs runs, and left down: the cluster carries on, every
      // accepted job (those submitted after the kill too) finishes, once.
      List<String> jobs = new ArrayList<>();
      for (int i = 0; i < 20; i++) {
        jobs.add(
            submit(
                layout,
                key,
                "{\"type\":\"text\",\"input\":{\"prompt\":\"A cat sits\",\"max_tokens\":16}}"));
      }
      stack.kill9("kafka");
      for (int i = 0; i < 5; i++) {
        jobs.add(
            submit(
                layout,
                key,
                "{\"type\":\"text\",\"input\":{\"prompt\":\"Once upon a time\",\"max_tokens\":8}}"));
      }
      for (String id : jobs) {
        assertThat(awaitTerminal(layout, key, id).path("status").asText())
            .as(id)
            .isEqualTo("succeeded");
      }
      assertThat(
              stack.isRunning(
                  layout.services().stream()
                      .filter(s -> s.name().equals("kafka"))
                      .findFirst()
                      .orElseThrow()))
          .as("all of it with the broker still down")
          .isFalse();
      List<UsageEvent> all = usageEvents(layout, jobs, jobs.size());
      long distinct = all.stream().map(UsageEvent::eventId).distinct().count();
      // Every job billed once. A transaction whose commit the broker's death left unanswered can
      // be committed yet look failed to the worker, which then runs the job again: the raw topic
      // may hold a duplicate, which metering's dedup by job id absorbs.
      // How many raw duplicates a broker death leaves depends on timing; what must hold is that
      // each job is billed once: distinct events equal jobs, and the account's metered rollups
      // equal the job records (the first, re-run job and these; the poison job is never billed).
      assertThat(distinct).isEqualTo(jobs.size());
      List<String> billed = new ArrayList<>(jobs);
      billed.add(job);
      long expectedTokens = 0;
      for (String id : billed) {
        expectedTokens += job(layout, key, id).path("usage").path("billable_tokens").asLong();
      }
      long[] metered = awaitMeteredUsage(layout, key, billed.size(), expectedTokens);
      assertThat(metered[0]).as("requests billed").isEqualTo(billed.size());
      assertThat(metered[1]).as("billable tokens").isEqualTo(expectedTokens);
      System.out.printf(
          "broker crash: %d accepted jobs, %d succeeded, %d usage events (%d distinct);"
              + " metered %d requests, %d billable tokens = the job records%n",
          jobs.size(), jobs.size(), all.size(), distinct, metered[0], metered[1]);
      assertThat(stack.up(true)).isZero(); // the broker back, for whatever runs next
    } finally {
      receiver.stop(0);
    }
  }

  private static String submit(StackLayout layout, String key, String body) throws Exception {
    HttpResponse<String> r =
        HTTP.send(
            HttpRequest.newBuilder(URI.create(layout.apiUrl() + "/v1/jobs"))
                .header("Content-Type", "application/json")
                .header("Authorization", "Bearer " + key)
                .POST(HttpRequest.BodyPublishers.ofString(body))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
    return JSON.readTree(r.body()).path("id").asText();
  }

  private static JsonNode job(StackLayout layout, String key, String id) throws Exception {
    return JSON.readTree(
        HTTP.send(
                HttpRequest.newBuilder(URI.create(layout.apiUrl() + "/v1/jobs/" + id))
                    .header("X-API-Key", key)
                    .build(),
                HttpResponse.BodyHandlers.ofString())
            .body());
  }

  private static String status(StackLayout layout, String key, String id) throws Exception {
    return job(layout, key, id).path("status").asText();
  }

  private static JsonNode awaitTerminal(StackLayout layout, String key, String id)
      throws Exception {
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
    JsonNode j = null;
    while (System.nanoTime() < end) {
      j = job(layout, key, id);
      String s = j.path("status").asText();
      if (s.equals("succeeded") || s.equals("failed") || s.equals("canceled")) {
        return j;
      }
      Thread.sleep(200);
    }
    throw new AssertionError("job " + id + " did not finish: " + j);
  }

  /** Waits until the job has been started {@code n} times (each worker run writes a start). */
  private static void awaitStarts(StackLayout layout, String jobId, int n) {
    Properties p = new Properties();
    p.put("bootstrap.servers", layout.kafkaBootstrap());
    p.put("group.id", "crash-it-" + UUID.randomUUID());
    p.put("auto.offset.reset", "earliest");
    p.put("isolation.level", "read_committed");
    int starts = 0;
    try (var c = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer())) {
      c.subscribe(List.of(Topics.JOB_EVENTS.name()));
      long end = System.nanoTime() + Duration.ofSeconds(90).toNanos();
      while (starts < n) {
        assertThat(System.nanoTime()).as("start " + n + " of " + jobId).isLessThan(end);
        for (var r : c.poll(Duration.ofMillis(100))) {
          if (jobId.equals(r.key())
              && Topics.JOB_EVENTS.deserializeValue(r.value()).kind()
                  == com.kosmosx.contracts.JobEvent.Kind.STARTED) {
            starts++;
          }
        }
      }
    }
  }

  /**
   * The account's metered requests and billable tokens over this month and the last (a run that
   * crosses a month end stays whole), once they reach the expected figures or 90 s pass.
   */
  private static long[] awaitMeteredUsage(
      StackLayout layout, String key, long requests, long tokens) throws Exception {
    java.time.LocalDate today = java.time.LocalDate.now(java.time.ZoneOffset.UTC);
    String query =
        "/v1/usage?granularity=month&from="
            + today.minusMonths(1).withDayOfMonth(1)
            + "&to="
            + today.plusDays(1);
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
    long[] sums;
    do {
      HttpResponse<String> r =
          HTTP.send(
              HttpRequest.newBuilder(URI.create(layout.apiUrl() + query))
                  .header("Authorization", "Bearer " + key)
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
      sums = new long[2];
      for (JsonNode row : JSON.readTree(r.body()).path("data")) {
        sums[0] += row.path("requests").asLong();
        sums[1] += row.path("billable_tokens").asLong();
      }
      if (sums[0] >= requests && sums[1] >= tokens) {
        return sums;
      }
      Thread.sleep(250);
    } while (System.nanoTime() < end);
    return sums;
  }

  /** Every usage event (read_committed) of these jobs, read until quiet. */
  private static List<UsageEvent> usageEvents(StackLayout layout, List<String> jobs, int expect) {
    Properties p = new Properties();
    p.put("bootstrap.servers", layout.kafkaBootstrap());
    p.put("group.id", "crash-it-" + UUID.randomUUID());
    p.put("auto.offset.reset", "earliest");
    p.put("isolation.level", "read_committed");
    List<UsageEvent> out = new ArrayList<>();
    try (var c = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer())) {
      c.subscribe(List.of(Topics.USAGE.name()));
      long end = System.nanoTime() + Duration.ofSeconds(60).toNanos();
      long settle = Long.MAX_VALUE;
      while (System.nanoTime() < Math.min(end, settle)) {
        for (var r : c.poll(Duration.ofMillis(200))) {
          UsageEvent e = Topics.USAGE.deserializeValue(r.value());
          if (jobs.contains(e.eventId())) {
            out.add(e);
          }
        }
        if (out.size() >= expect && settle == Long.MAX_VALUE) {
          settle = System.nanoTime() + Duration.ofSeconds(3).toNanos();
        }
      }
    }
    return out;
  }
}
