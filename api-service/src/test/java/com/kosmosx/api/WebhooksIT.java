package com.kosmosx.api;

import static com.kosmosx.api.ApiTestApp.setting;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.kosmosx.contracts.JobEvent;
import com.kosmosx.contracts.Topics;
import com.kosmosx.platform.SharedPlatform;
import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntUnaryOperator;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Webhooks on the real database and broker, delivered to a real HTTP receiver that verifies the
 * Standard Webhooks signature the way a client library does.
 */
class WebhooksIT {
  private static HttpServer receiver;
  private static final Map<String, List<Received>> byPath = new ConcurrentHashMap<>();
  private static final Map<String, IntUnaryOperator> answers = new ConcurrentHashMap<>();
  private static KafkaProducer<String, byte[]> events;

  /** One request the receiver got. */
  record Received(String id, String timestamp, String signature, byte[] body, Instant at) {}

  @BeforeAll
  static void start() throws Exception {
    receiver = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    receiver.createContext(
        "/",
        ex -> {
          byte[] body = ex.getRequestBody().readAllBytes();
          String path = ex.getRequestURI().getPath();
          List<Received> got =
              byPath.computeIfAbsent(path, k -> Collections.synchronizedList(new ArrayList<>()));
          got.add(
              new Received(
                  ex.getRequestHeaders().getFirst("webhook-id"),
                  ex.getRequestHeaders().getFirst("webhook-timestamp"),
                  ex.getRequestHeaders().getFirst("webhook-signature"),
                  body,
                  Instant.now()));
          int status = answers.getOrDefault(path, n -> 200).applyAsInt(got.size());
          ex.sendResponseHeaders(status, -1);
          ex.close();
        });
    receiver.start();
    Properties p = new Properties();
    p.put("bootstrap.servers", SharedPlatform.kafka().bootstrapServers());
    events = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
  }

  @AfterAll
  static void stop() {
    events.close();
    receiver.stop(0);
  }

  private static ApiTestApp app(String jdbcUrl, String group, String schedule) throws Exception {
    return new ApiTestApp(
            "config.yml",
            jdbcUrl,
            setting("kafka.projectionGroup", group),
            setting("webhooks.allowedHosts", "localhost,127.0.0.1"),
            setting("webhooks.retrySchedule", schedule),
            setting("webhooks.pollInterval", "50ms"))
        .start();
  }

  private static String url(String path) {
    return "http://127.0.0.1:" + receiver.getAddress().getPort() + path;
  }

  private static void publish(JobEvent e) throws Exception {
    events
        .send(
            new ProducerRecord<>(
                Topics.JOB_EVENTS.name(), e.jobId(), Topics.JOB_EVENTS.serializeValue(e)))
        .get();
  }

  private static void runJob(String id) throws Exception {
    publish(JobEvent.started(id, "acc", Instant.now(), "w"));
    publish(
        JobEvent.succeeded(
            id,
            "acc",
            Instant.now(),
            "w",
            new JobEvent.Output("hello", List.of()),
            new JobEvent.Usage(2, 3, 0)));
  }

  private static String submit(ApiTestApp app, String key, String webhook) throws Exception {
    HttpResponse<String> r =
        app.postJson(
            "/v1/jobs",
            "{\"type\":\"text\",\"input\":{\"prompt\":\"hi\",\"max_tokens\":3},\"webhook\":"
                + webhook
                + "}",
            "X-API-Key",
            key);
    assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
    return ApiTestApp.json(r).path("id").asText();
  }

  private static List<Received> await(String path, int count, Duration timeout)
      throws InterruptedException {
    long end = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < end) {
      List<Received> got = byPath.getOrDefault(path, List.of());
      if (got.size() >= count) {
        return List.copyOf(got);
      }
      Thread.sleep(50);
    }
    throw new AssertionError(
        path + " got " + byPath.getOrDefault(path, List.of()).size() + " of " + count);
  }

  /** Standard Webhooks verification, written from the spec, independent of the sender's code. */
  static boolean verifies(String secret, Received r) throws Exception {
    byte[] key = Base64.getDecoder().decode(secret.substring("whsec_".length()));
    Mac mac = Mac.getInstance("HmacSHA256");
    mac.init(new SecretKeySpec(key, "HmacSHA256"));
    byte[] signed =
        mac.doFinal(
            (r.id() + "." + r.timestamp() + "." + new String(r.body(), StandardCharsets.UTF_8))
                .getBytes(StandardCharsets.UTF_8));
    String expected = Base64.getEncoder().encodeToString(signed);
    long age = Math.abs(Instant.now().getEpochSecond() - Long.parseLong(r.timestamp()));
    for (String part : r.signature().split(" ")) {
      if (part.equals("v1," + expected) && age < 300) {
        return true;
      }
    }
    return false;
  }

  @Test
  void signedDeliveriesRetryWithTheSameIdUntilA2xxAnd410Stops() throws Exception {
    try (ApiTestApp app =
        app(
            SharedPlatform.freshDatabase("webhooks_it"),
            "wh-" + UUID.randomUUID(),
            "300ms,300ms,300ms")) {
      String key = app.newAccountKey("hooks" + UUID.randomUUID().toString().substring(0, 8));
      String secret =
          ApiTestApp.json(app.get("/v1/webhook-secret", "X-API-Key", key))
              .path("webhook_secret")
              .asText();

      // Fails twice, then succeeds: 3 attempts of one event, one webhook-id.
      String path = "/flaky-" + UUID.randomUUID();
      answers.put(path, n -> n <= 2 ? 500 : 200);
      String id = submit(app, key, "{\"url\":\"" + url(path) + "\",\"events\":[\"completed\"]}");
      runJob(id);
      await(path, 3, Duration.ofSeconds(20));
      Thread.sleep(1_500); // no more after the success
      List<Received> got = List.copyOf(byPath.get(path));
      assertThat(got).hasSize(3);
      assertThat(got.stream().map(Received::id).distinct().toList())
          .containsExactly("msg_" + id + "_completed");
      for (Received r : got) {
        assertThat(verifies(secret, r)).as("signature of attempt at " + r.at()).isTrue();
      }
      JsonNode last = ApiTestApp.JSON.readTree(got.get(2).body());
      assertThat(last.path("type").asText()).isEqualTo("job.completed");
      assertThat(last.path("data").path("id").asText()).isEqualTo(id);
      assertThat(last.path("data").path("status").asText()).isEqualTo("succeeded");
      assertThat(last.path("data").path("output").path("text").asText()).isEqualTo("hello");
      // Every attempt carries the same body: the event as it was, signed afresh.
      assertThat(got.get(0).body()).isEqualTo(got.get(2).body());
      JsonNode log =
          ApiTestApp.json(app.get("/v1/jobs/" + id + "/webhook-deliveries", "X-API-Key", key));
      List<Integer> codes = new ArrayList<>();
      log.path("data").forEach(a -> codes.add(a.path("status_code").asInt()));
      assertThat(codes).containsExactly(500, 500, 200);
      assertThat(log.path("data").get(2).path("delivery_status").asText()).isEqualTo("delivered");

      // Both events when asked for: started and completed, each its own webhook-id.
      String both = "/both-" + UUID.randomUUID();
      String bothJob =
          submit(
              app, key, "{\"url\":\"" + url(both) + "\",\"events\":[\"started\",\"completed\"]}");
      runJob(bothJob);
      List<Received> two = await(both, 2, Duration.ofSeconds(20));
      List<String> types = new ArrayList<>();
      for (Received r : two) {
        assertThat(verifies(secret, r)).isTrue();
        types.add(ApiTestApp.JSON.readTree(r.body()).path("type").asText());
      }
      assertThat(types).containsExactlyInAnyOrder("job.started", "job.completed");
      assertThat(two.stream().map(Received::id).distinct()).hasSize(2);

      // A receiver that answers 410 gets one attempt and no more.
      String gone = "/gone-" + UUID.randomUUID();
      answers.put(gone, n -> 410);
      String goneJob = submit(app, key, "{\"url\":\"" + url(gone) + "\"}");
      runJob(goneJob);
      await(gone, 1, Duration.ofSeconds(20));
      Thread.sleep(2_000);
      assertThat(byPath.get(gone)).hasSize(1);
      JsonNode goneLog =
          ApiTestApp.json(app.get("/v1/jobs/" + goneJob + "/webhook-deliveries", "X-API-Key", key));
      assertThat(goneLog.path("data").get(0).path("delivery_status").asText()).isEqualTo("gone");

      // Replayed job events never make a second delivery.
      runJob(id);
      Thread.sleep(1_500);
      assertThat(byPath.get(path)).hasSize(3);
    }
  }

  @Test
  void privateAndMalformedUrlsAreRefusedAtSubmit() throws Exception {
    try (ApiTestApp app =
        app(SharedPlatform.freshDatabase("webhooks_ssrf"), "wh-" + UUID.randomUUID(), "1s")) {
      String key = app.newAccountKey("ssrf" + UUID.randomUUID().toString().substring(0, 8));
      for (String url :
          List.of(
              "http://10.1.2.3/hook",
              "http://192.168.0.10/hook",
              "http://169.254.169.254/latest/meta-data",
              "http://[fd00::1]/hook",
              "http://0.0.0.0/hook",
              "ftp://example.com/hook",
              "https://user:pw@example.com/hook",
              "not a url")) {
        HttpResponse<String> r =
            app.postJson(
                "/v1/jobs",
                "{\"type\":\"text\",\"input\":{\"prompt\":\"hi\"},\"webhook\":{\"url\":\""
                    + url
                    + "\"}}",
                "X-API-Key",
                key);
        assertThat(r.statusCode()).as(url).isEqualTo(400);
        assertThat(ApiTestApp.json(r).path("code").asText())
            .as(url)
            .isEqualTo("invalid_webhook_url");
      }
      HttpResponse<String> badEvent =
          app.postJson(
              "/v1/jobs",
              "{\"type\":\"text\",\"input\":{\"prompt\":\"hi\"},\"webhook\":{\"url\":\""
                  + url("/x")
                  + "\",\"events\":[\"finished\"]}}",
              "X-API-Key",
              key);
      assertThat(badEvent.statusCode()).isEqualTo(400);
      assertThat(ApiTestApp.json(badEvent).path("field").asText()).isEqualTo("webhook.events");
    }
  }

  @Test
  void aPendingDeliverySurvivesAnApiRestart() throws Exception {
    String db = SharedPlatform.freshDatabase("webhooks_restart");
    String group = "wh-" + UUID.randomUUID();
    String path = "/restart-" + UUID.randomUUID();
    AtomicInteger calls = new AtomicInteger();
    answers.put(path, n -> calls.incrementAndGet() == 1 ? 503 : 200);
    String key;
    String id;
    try (ApiTestApp first = app(db, group, "3s")) {
      key = first.newAccountKey("restart" + UUID.randomUUID().toString().substring(0, 8));
      id = submit(first, key, "{\"url\":\"" + url(path) + "\"}");
      runJob(id);
      await(path, 1, Duration.ofSeconds(20));
    } // stopped before the retry is due
    assertThat(byPath.get(path)).hasSize(1);
    try (ApiTestApp second = app(db, group, "3s")) {
      List<Received> got = await(path, 2, Duration.ofSeconds(30));
      assertThat(got.get(1).id()).isEqualTo(got.get(0).id()).isEqualTo("msg_" + id + "_completed");
      Thread.sleep(1_000);
      assertThat(byPath.get(path)).hasSize(2);
      JsonNode log =
          ApiTestApp.json(second.get("/v1/jobs/" + id + "/webhook-deliveries", "X-API-Key", key));
      assertThat(log.path("data").size()).isEqualTo(2);
    }
  }

  /**
   * A receiver that answers {@code 200} with {@code Content-Length: 999999} and never sends the
   * body, holding every connection open: the attack that stopped all webhook delivery.
   */
  private static final class Staller implements AutoCloseable {
    final java.net.ServerSocket server = new java.net.ServerSocket(0, 50);
    final List<java.net.Socket> held = Collections.synchronizedList(new ArrayList<>());
    final Thread acceptor;

    Staller() throws java.io.IOException {
      this(true);
    }

    /**
     * @param headers whether to send the status line and headers (else: read the request, answer
     *     nothing at all)
     */
    Staller(boolean headers) throws java.io.IOException {
      acceptor =
          new Thread(
              () -> {
                while (!server.isClosed()) {
                  try {
                    java.net.Socket s = server.accept();
                    held.add(s);
                    s.getInputStream().read(new byte[8192]);
                    if (!headers) {
                      continue;
                    }
                    s.getOutputStream()
                        .write(
                            "HTTP/1.1 200 OK\r\nContent-Length: 999999\r\n\r\n"
                                .getBytes(StandardCharsets.US_ASCII));
                    s.getOutputStream().flush();
                  } catch (java.io.IOException e) {
                    // closed
                  }
                }
              },
              "staller");
      acceptor.setDaemon(true);
      acceptor.start();
    }

    String url() {
      return "http://127.0.0.1:" + server.getLocalPort() + "/hook";
    }

    @Override
    public void close() throws Exception {
      server.close();
      synchronized (held) {
        for (java.net.Socket s : held) {
          s.close();
        }
      }
    }
  }

  @Test
  void aStallingReceiverDelaysNoOtherAccountsDeliveries() throws Exception {
    try (Staller staller = new Staller();
        ApiTestApp app =
            new ApiTestApp(
                    "config.yml",
                    SharedPlatform.freshDatabase("webhooks_stall"),
                    setting("kafka.projectionGroup", "wh-" + UUID.randomUUID()),
                    setting("webhooks.allowedHosts", "localhost,127.0.0.1"),
                    setting("webhooks.retrySchedule", "1s"),
                    // Long enough that the stalled attempts are all still open below.
                    setting("webhooks.timeout", "120s"),
                    setting("webhooks.pollInterval", "50ms"))
                .start()) {
      String hostile = app.newAccountKey("stall" + UUID.randomUUID().toString().substring(0, 8));
      String bystander = app.newAccountKey("calm" + UUID.randomUUID().toString().substring(0, 8));
      for (int i = 0; i < 8; i++) {
        runJob(submit(app, hostile, "{\"url\":\"" + staller.url() + "\"}"));
      }
      long end = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      while (staller.held.size() < 4 && System.nanoTime() < end) {
        Thread.sleep(50);
      }
      assertThat(staller.held).hasSizeGreaterThanOrEqualTo(4); // stalled in flight now

      String path = "/calm-" + UUID.randomUUID();
      for (int i = 0; i < 3; i++) {
        runJob(submit(app, bystander, "{\"url\":\"" + url(path) + "\"}"));
      }
      // Delivered while every stalled attempt still holds its connection open.
      assertThat(await(path, 3, Duration.ofSeconds(60))).hasSize(3);
      assertThat(staller.server.isClosed()).isFalse();
      System.out.printf(
          "stalling receiver: %d connections held open; the other account got 3 of 3%n",
          staller.held.size());
    }
  }

  @Test
  void anAttemptEndsAtItsDeadlineAndAStatusNeedsNoBody() throws Exception {
    try (Staller silent = new Staller(false);
        Staller bodiless = new Staller(true);
        ApiTestApp app =
            new ApiTestApp(
                    "config.yml",
                    SharedPlatform.freshDatabase("webhooks_deadline"),
                    setting("kafka.projectionGroup", "wh-" + UUID.randomUUID()),
                    setting("webhooks.allowedHosts", "localhost,127.0.0.1"),
                    setting("webhooks.retrySchedule", "1h"),
                    setting("webhooks.timeout", "1s"),
                    setting("webhooks.pollInterval", "50ms"))
                .start()) {
      String key = app.newAccountKey("dl" + UUID.randomUUID().toString().substring(0, 8));
      // Accepts the request and never answers: the attempt ends at its deadline, to be retried.
      String quiet = submit(app, key, "{\"url\":\"" + silent.url() + "\"}");
      runJob(quiet);
      JsonNode attempt = firstAttempt(app, key, quiet);
      assertThat(attempt.path("delivery_status").asText()).isEqualTo("pending");
      assertThat(attempt.path("error").asText()).contains("timeout");
      // Answers 200 and announces a body it never sends: the status decides, nothing waits on the
      // body (only the status of a webhook answer means anything).
      String told = submit(app, key, "{\"url\":\"" + bodiless.url() + "\"}");
      runJob(told);
      JsonNode ok = firstAttempt(app, key, told);
      assertThat(ok.path("status_code").asInt()).isEqualTo(200);
      assertThat(ok.path("delivery_status").asText()).isEqualTo("delivered");
    }
  }

  private static JsonNode firstAttempt(ApiTestApp app, String key, String id) throws Exception {
    JsonNode log = null;
    long end = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (System.nanoTime() < end) {
      log = ApiTestApp.json(app.get("/v1/jobs/" + id + "/webhook-deliveries", "X-API-Key", key));
      if (log.path("data").size() > 0) {
        break;
      }
      Thread.sleep(100);
    }
    assertThat(log.path("data").size()).as(String.valueOf(log)).isEqualTo(1);
    return log.path("data").get(0);
  }

  @Test
  void aClosedAccountsPendingDeliveryEndsAndOthersFlow() throws Exception {
    try (ApiTestApp app =
        app(SharedPlatform.freshDatabase("webhooks_closed"), "wh-" + UUID.randomUUID(), "1s")) {
      String user = "closing" + UUID.randomUUID().toString().substring(0, 8);
      String key = app.newAccountKey(user);
      String other = app.newAccountKey("open" + UUID.randomUUID().toString().substring(0, 8));
      String failing = "/closing-" + UUID.randomUUID();
      answers.put(failing, n -> 500);
      String id = submit(app, key, "{\"url\":\"" + url(failing) + "\"}");
      runJob(id);
      await(failing, 1, Duration.ofSeconds(20));
      String basic =
          "Basic "
              + Base64.getEncoder()
                  .encodeToString(
                      (user + ":correct horse battery").getBytes(StandardCharsets.UTF_8));
      assertThat(
              app.send("DELETE", "/v1/accounts/me", null, null, "Authorization", basic)
                  .statusCode())
          .isEqualTo(204);
      String fine = "/open-" + UUID.randomUUID();
      runJob(submit(app, other, "{\"url\":\"" + url(fine) + "\"}"));
      await(fine, 1, Duration.ofSeconds(20));
      Thread.sleep(2_500); // past the 1 s retry: the closed account's delivery is not retried
      assertThat(byPath.get(failing)).hasSize(1);
      try (var c = java.sql.DriverManager.getConnection(app.jdbcUrl(), "postgres", "");
          var rs =
              c.createStatement()
                  .executeQuery(
                      "SELECT status FROM webhook_deliveries WHERE job_id = '" + id + "'")) {
        assertThat(rs.next()).isTrue();
        assertThat(rs.getString(1)).isEqualTo("failed");
      }
    }
  }
}
