package com.kosmosx.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.kosmosx.contracts.JobEvent;
import com.kosmosx.contracts.Topics;
import com.kosmosx.platform.SharedPlatform;
import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * For each background loop, a record or row it cannot apply, fed on the real broker and database
 * while another account works: the poison is quarantined with its reason and listed for admins,
 * everything behind it flows, and the loop stays healthy.
 */
class PoisonIT {
  private static final String ADMIN = "kx_live_poison_admin_key_0123456789abcdef";
  private static ApiTestApp app;
  private static KafkaProducer<String, byte[]> raw;
  private static HttpServer receiver;
  private static final Map<String, Integer> received = new ConcurrentHashMap<>();

  @BeforeAll
  static void start() throws Exception {
    app =
        new ApiTestApp(
                "config.yml",
                SharedPlatform.freshDatabase("poison_it"),
                ApiTestApp.setting("auth.bootstrapAdminKey", ADMIN),
                ApiTestApp.setting("kafka.projectionGroup", "poison-" + UUID.randomUUID()),
                ApiTestApp.setting("kafka.rollupSinkGroup", "poison-sink-" + UUID.randomUUID()),
                ApiTestApp.setting("outbox.maxAttempts", "2"),
                ApiTestApp.setting("outbox.retryAfter", "200ms"),
                ApiTestApp.setting("webhooks.allowedHosts", "localhost,127.0.0.1"),
                ApiTestApp.setting("webhooks.pollInterval", "50ms"))
            .start();
    Properties p = new Properties();
    p.put("bootstrap.servers", SharedPlatform.kafka().bootstrapServers());
    raw = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
    receiver = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    receiver.createContext(
        "/",
        ex -> {
          ex.getRequestBody().readAllBytes();
          received.merge(ex.getRequestURI().getPath(), 1, Integer::sum);
          ex.sendResponseHeaders(200, -1);
          ex.close();
        });
    receiver.start();
  }

  @AfterAll
  static void stop() {
    raw.close();
    receiver.stop(0);
    app.close();
  }

  private static Connection db() throws Exception {
    return DriverManager.getConnection(app.jdbcUrl(), "postgres", "");
  }

  private static String submit(String key) throws Exception {
    HttpResponse<String> r =
        app.postJson(
            "/v1/jobs",
            "{\"type\":\"text\",\"input\":{\"prompt\":\"hi\",\"max_tokens\":3}}",
            "X-API-Key",
            key);
    assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
    return ApiTestApp.json(r).path("id").asText();
  }

  private static String accountOf(String key) throws Exception {
    String job = submit(key);
    try (Connection c = db();
        ResultSet rs =
            c.createStatement()
                .executeQuery("SELECT account_id FROM jobs WHERE id = '" + job + "'")) {
      assertThat(rs.next()).isTrue();
      return rs.getString(1);
    }
  }

  private static JsonNode quarantined(String loop) throws Exception {
    HttpResponse<String> r =
        app.get("/v1/admin/quarantine?loop=" + loop, "Authorization", "Bearer " + ADMIN);
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    return ApiTestApp.json(r).path("data");
  }

  private static <T> T await(String what, Duration timeout, Callable<T> probe) throws Exception {
    long end = System.nanoTime() + timeout.toNanos();
    while (true) {
      T v = probe.call();
      if (v != null) {
        return v;
      }
      if (System.nanoTime() > end) {
        throw new AssertionError("timed out waiting for " + what);
      }
      Thread.sleep(100);
    }
  }

  private static String status(String jobId) throws Exception {
    try (Connection c = db();
        PreparedStatement s =
            c.prepareStatement("SELECT status, error_code FROM jobs WHERE id = ?")) {
      s.setString(1, jobId);
      try (ResultSet rs = s.executeQuery()) {
        return rs.next() ? rs.getString(1) + "/" + rs.getString(2) : null;
      }
    }
  }

  /** Ids of the jobs on the shared lane's topic, read from the beginning. */
  private static Set<String> onSharedLane() {
    Set<String> ids = new HashSet<>();
    Properties p = new Properties();
    p.put("bootstrap.servers", SharedPlatform.kafka().bootstrapServers());
    try (KafkaConsumer<String, byte[]> c =
        new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer())) {
      List<TopicPartition> parts =
          c.partitionsFor(Topics.JOBS_SHARED.name()).stream()
              .map(i -> new TopicPartition(i.topic(), i.partition()))
              .toList();
      c.assign(parts);
      c.seekToBeginning(parts);
      Map<TopicPartition, Long> end = c.endOffsets(parts);
      while (parts.stream().anyMatch(tp -> c.position(tp) < end.get(tp))) {
        for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(200))) {
          ids.add(r.key());
        }
      }
    }
    return ids;
  }

  @Test
  void anOutboxRowKafkaRefusesIsQuarantinedItsJobEndsAndOthersFlow() throws Exception {
    String victim = app.newAccountKey("victim" + UUID.randomUUID().toString().substring(0, 6));
    String bystander =
        app.newAccountKey("bystander" + UUID.randomUUID().toString().substring(0, 6));
    String warm = submit(bystander); // Kafka has taken something: it is up
    await(
        "the first job on its lane",
        Duration.ofSeconds(30),
        () -> onSharedLane().contains(warm) ? true : null);

    // A job whose lane topic does not exist (auto-create is off): Kafka refuses its message.
    String lane = "nowhere" + UUID.randomUUID().toString().substring(0, 6);
    String poison = "job_poison" + UUID.randomUUID().toString().replace("-", "").substring(0, 12);
    try (Connection c = db()) {
      PreparedStatement job =
          c.prepareStatement(
              "INSERT INTO jobs (id, account_id, type, status, lane, created_at)"
                  + " VALUES (?, ?, 'text', 'queued', ?, now())");
      job.setString(1, poison);
      job.setString(2, accountOf(victim));
      job.setString(3, lane);
      job.executeUpdate();
      PreparedStatement row =
          c.prepareStatement("INSERT INTO outbox (topic, msg_key, payload) VALUES (?, ?, ?)");
      row.setString(1, Topics.jobs(lane).name());
      row.setString(2, poison);
      row.setBytes(
          3,
          Topics.jobs(lane)
              .serializeValue(
                  new com.kosmosx.contracts.JobRequest(
                      poison,
                      accountOf(victim),
                      com.kosmosx.contracts.JobType.TEXT,
                      lane,
                      com.kosmosx.contracts.JobInput.text("hi", 3),
                      Instant.now(),
                      Instant.now().minusSeconds(3600))));
      row.executeUpdate();
    }
    // While it is there, another account's jobs leave as usual.
    List<String> others = List.of(submit(bystander), submit(bystander), submit(bystander));
    await(
        "the bystander's jobs on their lane",
        Duration.ofSeconds(60),
        () -> onSharedLane().containsAll(others) ? true : null);

    JsonNode entry =
        await(
            "the refused row in the quarantine",
            Duration.ofSeconds(60),
            () -> {
              for (JsonNode n : quarantined("outbox-relay")) {
                if (poison.equals(n.path("key").asText())) {
                  return n;
                }
              }
              return null;
            });
    assertThat(entry.path("topic").asText()).isEqualTo(Topics.jobs(lane).name());
    assertThat(entry.path("reason").asText()).contains("Kafka refused it");
    assertThat(status(poison)).isEqualTo("failed/undeliverable");
    HttpResponse<String> view = app.get("/v1/jobs/" + poison, "X-API-Key", victim);
    assertThat(ApiTestApp.json(view).path("error").path("code").asText())
        .isEqualTo("undeliverable");
    try (Connection c = db();
        ResultSet rs =
            c.createStatement()
                .executeQuery("SELECT count(*) FROM outbox WHERE msg_key = '" + poison + "'")) {
      rs.next();
      assertThat(rs.getInt(1)).as("the row left the outbox").isZero();
    }

    // The cause is fixed (the lane's topic exists): the replay queues the job again, with a fresh
    // deadline instead of the one that passed meanwhile, and its message reaches the lane.
    try (Admin admin =
        Admin.create(Map.of("bootstrap.servers", SharedPlatform.kafka().bootstrapServers()))) {
      admin.createTopics(List.of(new NewTopic(Topics.jobs(lane).name(), 1, (short) 1))).all().get();
    }
    HttpResponse<String> replay =
        app.postJson(
            "/v1/admin/quarantine/" + entry.path("id").asLong() + "/replay",
            "",
            "Authorization",
            "Bearer " + ADMIN);
    assertThat(replay.statusCode()).as(replay.body()).isEqualTo(200);
    assertThat(status(poison)).isEqualTo("queued/null");
    HttpResponse<String> again =
        app.postJson(
            "/v1/admin/quarantine/" + entry.path("id").asLong() + "/replay",
            "",
            "Authorization",
            "Bearer " + ADMIN);
    assertThat(again.statusCode()).isEqualTo(409);
    com.kosmosx.contracts.JobRequest requeued =
        await(
            "the replayed job on its lane",
            Duration.ofSeconds(30),
            () -> {
              Properties p = new Properties();
              p.put("bootstrap.servers", SharedPlatform.kafka().bootstrapServers());
              try (KafkaConsumer<String, byte[]> c =
                  new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer())) {
                TopicPartition tp = new TopicPartition(Topics.jobs(lane).name(), 0);
                c.assign(List.of(tp));
                c.seekToBeginning(List.of(tp));
                for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofSeconds(1))) {
                  return Topics.jobs(lane).deserializeValue(r.value());
                }
              }
              return null;
            });
    assertThat(requeued.jobId()).isEqualTo(poison);
    assertThat(requeued.deadline()).isAfter(Instant.now());
    assertThat(health().path("loop.outbox-relay").path("healthy").asBoolean()).isTrue();
  }

  @Test
  void eventsTheProjectionCannotApplyAreQuarantinedAndTheRestIsProjected() throws Exception {
    String key = app.newAccountKey("proj" + UUID.randomUUID().toString().substring(0, 6));
    String unreadable = "job_unreadable" + UUID.randomUUID().toString().substring(0, 6);
    String refused = submit(key);
    String nul = submit(key);
    String after = submit(key);
    // 1: not JSON at all; 2: a date PostgreSQL cannot store (year 300000); 3: output with U+0000,
    // which is stored as U+FFFD; 4: an ordinary event behind them.
    send(Topics.JOB_EVENTS.name(), unreadable, "{not json".getBytes(StandardCharsets.UTF_8));
    String acc = accountOf(key);
    String far =
        new String(
                Topics.JOB_EVENTS.serializeValue(
                    JobEvent.started(refused, acc, Instant.parse("2020-01-01T00:00:00Z"), "w")),
                StandardCharsets.UTF_8)
            .replace("2020-01-01T00:00:00Z", "+300000-01-01T00:00:00Z");
    send(Topics.JOB_EVENTS.name(), refused, far.getBytes(StandardCharsets.UTF_8));
    JobEvent.Usage usage = new JobEvent.Usage(2, 1, 0);
    send(
        Topics.JOB_EVENTS.name(),
        nul,
        Topics.JOB_EVENTS.serializeValue(
            JobEvent.succeeded(
                nul, acc, Instant.now(), "w", new JobEvent.Output("a\u0000b", null), usage)));
    send(
        Topics.JOB_EVENTS.name(),
        after,
        Topics.JOB_EVENTS.serializeValue(
            JobEvent.succeeded(
                after, acc, Instant.now(), "w", new JobEvent.Output("fine", null), usage)));

    await(
        "the event behind the poison",
        Duration.ofSeconds(60),
        () -> "succeeded/null".equals(status(after)) ? true : null);
    assertThat(status(nul)).isEqualTo("succeeded/null");
    JsonNode nulView = ApiTestApp.json(app.get("/v1/jobs/" + nul, "X-API-Key", key));
    assertThat(nulView.path("output").path("text").asText()).isEqualTo("a\uFFFDb");
    assertThat(status(refused)).as("the refused event changed nothing").isEqualTo("queued/null");

    JsonNode list = quarantined("job-event-projector");
    Map<String, String> reasons = new java.util.HashMap<>();
    list.forEach(n -> reasons.put(n.path("key").asText(), n.path("reason").asText()));
    assertThat(reasons.get(unreadable)).startsWith("unreadable");
    assertThat(reasons.get(refused)).startsWith("refused").contains("out of range");
    // Replaying it cannot work (the date is still out of range): 409, and it stays listed.
    long id = 0;
    for (JsonNode n : list) {
      if (refused.equals(n.path("key").asText())) {
        id = n.path("id").asLong();
      }
    }
    HttpResponse<String> replay =
        app.postJson(
            "/v1/admin/quarantine/" + id + "/replay", "", "Authorization", "Bearer " + ADMIN);
    assertThat(replay.statusCode()).as(replay.body()).isEqualTo(409);
    assertThat(ApiTestApp.json(replay).path("code").asText()).isEqualTo("replay_failed");
    assertThat(quarantined("job-event-projector").toString()).contains(refused);
    assertThat(health().path("loop.job-event-projector").path("healthy").asBoolean()).isTrue();
  }

  @Test
  void anUnreadableRollupIsQuarantinedAndTheNextIsStored() throws Exception {
    String key = "acc_rollup" + UUID.randomUUID().toString().substring(0, 6);
    send(Topics.USAGE_ROLLUPS.name(), key, new byte[] {0, 1, 2, 3});
    com.kosmosx.contracts.UsageRollup valid =
        com.kosmosx.contracts.UsageRollup.empty(
            key,
            com.kosmosx.contracts.JobType.TEXT,
            java.time.LocalDate.now(java.time.ZoneOffset.UTC));
    send(Topics.USAGE_ROLLUPS.name(), key, Topics.USAGE_ROLLUPS.serializeValue(valid));
    await(
        "the rollup behind the poison",
        Duration.ofSeconds(60),
        () -> {
          try (Connection c = db();
              ResultSet rs =
                  c.createStatement()
                      .executeQuery(
                          "SELECT count(*) FROM usage_rollups WHERE account_id = '" + key + "'")) {
            rs.next();
            return rs.getInt(1) > 0 ? true : null;
          }
        });
    assertThat(quarantined("rollup-sink").toString()).contains(key).contains("unreadable");
    assertThat(health().path("loop.rollup-sink").path("healthy").asBoolean()).isTrue();
  }

  @Test
  void aClosedAccountsWebhookIsQuarantinedAndAnotherAccountsArrives() throws Exception {
    String user = "gone" + UUID.randomUUID().toString().substring(0, 6);
    String gone = app.newAccountKey(user);
    String goneAccount = accountOf(gone);
    String open = app.newAccountKey("open" + UUID.randomUUID().toString().substring(0, 6));
    String openAccount = accountOf(open);
    app.get("/v1/webhook-secret", "X-API-Key", open); // created on first read
    String port = String.valueOf(receiver.getAddress().getPort());
    String closedId =
        "msg_job_closed" + UUID.randomUUID().toString().substring(0, 6) + "_completed";
    String openId = "msg_job_open" + UUID.randomUUID().toString().substring(0, 6) + "_completed";
    try (Connection c = db()) {
      // The account closed after the delivery was written (a race with the projection).
      c.createStatement()
          .executeUpdate(
              "UPDATE accounts SET deleted_at = now(), webhook_secret = '' WHERE id = '"
                  + goneAccount
                  + "'");
      PreparedStatement s =
          c.prepareStatement(
              "INSERT INTO webhook_deliveries (id, job_id, account_id, event, url, payload,"
                  + " status, next_attempt_at, created_at) VALUES (?, ?, ?, 'completed', ?, ?,"
                  + " 'pending', now(), now())");
      for (String[] row :
          new String[][] {{closedId, goneAccount, "/closed"}, {openId, openAccount, "/open"}}) {
        s.setString(1, row[0]);
        s.setString(2, row[0].substring(4, row[0].length() - "_completed".length()));
        s.setString(3, row[1]);
        s.setString(4, "http://127.0.0.1:" + port + row[2]);
        s.setBytes(5, "{}".getBytes(StandardCharsets.UTF_8));
        s.executeUpdate();
      }
    }
    await("the open account's delivery", Duration.ofSeconds(30), () -> received.get("/open"));
    JsonNode q =
        await(
            "the closed account's delivery in the quarantine",
            Duration.ofSeconds(30),
            () -> {
              for (JsonNode n : quarantined("webhook-deliveries")) {
                if (("webhook:" + closedId).equals(n.path("source").asText())) {
                  return n;
                }
              }
              return null;
            });
    assertThat(q.path("reason").asText()).contains("closed");
    assertThat(received.get("/closed")).isNull();
    try (Connection c = db();
        ResultSet rs =
            c.createStatement()
                .executeQuery(
                    "SELECT status FROM webhook_deliveries WHERE id = '" + closedId + "'")) {
      assertThat(rs.next()).isTrue();
      assertThat(rs.getString(1)).isEqualTo("failed");
    }
    assertThat(health().path("loop.webhook-deliveries").path("healthy").asBoolean()).isTrue();
  }

  @Test
  void theWorkersDeadLettersAreListedUntilReplayed() throws Exception {
    String key = app.newAccountKey("dlq" + UUID.randomUUID().toString().substring(0, 6));
    String job = submit(key);
    // What a worker writes when it cannot read a job message.
    ProducerRecord<String, byte[]> dlq =
        new ProducerRecord<>(
            Topics.JOBS_DLQ.name(), job, "{broken".getBytes(StandardCharsets.UTF_8));
    dlq.headers()
        .add("kosmos.dlq.reason", "cannot read JobRequest".getBytes(StandardCharsets.UTF_8))
        .add(
            "kosmos.dlq.source",
            (Topics.JOBS_SHARED.name() + "-0@7").getBytes(StandardCharsets.UTF_8))
        .add("kosmos.dlq.attempts", "1".getBytes(StandardCharsets.UTF_8));
    raw.send(dlq).get();
    JsonNode listed =
        await(
            "the dead letter in the list",
            Duration.ofSeconds(30),
            () -> {
              HttpResponse<String> r =
                  app.get("/v1/admin/dead-letters", "Authorization", "Bearer " + ADMIN);
              assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
              for (JsonNode n : ApiTestApp.json(r).path("data")) {
                if (job.equals(n.path("job_id").asText())) {
                  return n;
                }
              }
              return null;
            });
    assertThat(listed.path("reason").asText()).isEqualTo("cannot read JobRequest");
    assertThat(listed.path("source").asText()).isEqualTo(Topics.JOBS_SHARED.name() + "-0@7");
    assertThat(listed.path("attempts").asInt()).isEqualTo(1);
    HttpResponse<String> replay =
        app.postJson("/v1/admin/dead-letters/replay", "", "Authorization", "Bearer " + ADMIN);
    assertThat(replay.statusCode()).as(replay.body()).isEqualTo(200);
    assertThat(replay.body()).contains(job);
    HttpResponse<String> after =
        app.get("/v1/admin/dead-letters", "Authorization", "Bearer " + ADMIN);
    assertThat(after.body()).as("replayed: no longer listed").doesNotContain(job);
  }

  @Test
  void everyLoopHasALivenessCheck() throws Exception {
    JsonNode h = health();
    for (String loop :
        List.of(
            "outbox-relay",
            "job-event-projector",
            "rollup-sink",
            "webhook-deliveries",
            "job-end-listener",
            "retention")) {
      assertThat(h.path("loop." + loop).path("healthy").asBoolean()).as(loop + ": " + h).isTrue();
    }
    HttpResponse<String> bad =
        app.get("/v1/admin/quarantine?limit=0", "Authorization", "Bearer " + ADMIN);
    assertThat(bad.statusCode()).isEqualTo(400);
    assertThat(bad.headers().firstValue("Content-Type").orElse("")).contains("problem+json");
    HttpResponse<String> user =
        app.get(
            "/v1/admin/quarantine",
            "X-API-Key",
            app.newAccountKey("nosy" + UUID.randomUUID().toString().substring(0, 6)));
    assertThat(user.statusCode()).isEqualTo(403);
  }

  private static void send(String topic, String key, byte[] value) throws Exception {
    raw.send(new ProducerRecord<>(topic, key, value)).get();
  }

  private static JsonNode health() throws Exception {
    java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
    HttpResponse<String> r =
        http.send(
            java.net.http.HttpRequest.newBuilder(
                    java.net.URI.create("http://127.0.0.1:" + app.adminPort() + "/healthcheck"))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    return ApiTestApp.JSON.readTree(r.body());
  }
}
