package com.kosmosx.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.kosmosx.platform.SharedPlatform;
import java.io.ByteArrayOutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.util.Base64;
import java.util.Random;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Requests that took the API down or answered 500 (issue 12's observations), each answered now as
 * the contract says: a 4xx problem+json with a code where the client is at fault, the contract's
 * answer where it allows the request, 503 {@code unavailable} when the database is away, and the
 * API serving other accounts afterwards.
 */
class HostileInputIT {
  private static final String ADMIN = "kx_live_hostile_input_admin_key_0123456789";
  private static ApiTestApp app;
  private static String key;
  private static String other;

  @BeforeAll
  static void start() throws Exception {
    app =
        new ApiTestApp(
                "config.yml",
                SharedPlatform.freshDatabase("hostile_it"),
                ApiTestApp.setting("auth.bootstrapAdminKey", ADMIN),
                ApiTestApp.setting("rateLimits.jobSubmissionsPerMinute", "1000"),
                ApiTestApp.setting("outbox.relayEnabled", "false"))
            .start();
    key = app.newAccountKey("hostile" + UUID.randomUUID().toString().substring(0, 6));
    other = app.newAccountKey("bystander" + UUID.randomUUID().toString().substring(0, 6));
  }

  @AfterAll
  static void stop() {
    app.close();
  }

  private static HttpResponse<String> submit(String body) throws Exception {
    return app.postJson("/v1/jobs", body, "Authorization", "Bearer " + key);
  }

  private static JsonNode problem(HttpResponse<String> r, int status, String code)
      throws Exception {
    assertThat(r.statusCode()).as(r.body()).isEqualTo(status);
    assertThat(r.headers().firstValue("Content-Type").orElse(""))
        .startsWith("application/problem+json");
    JsonNode p = ApiTestApp.json(r);
    assertThat(p.path("code").asText()).as(r.body()).isEqualTo(code);
    assertThat(r.body()).doesNotContain("Exception").doesNotContain("\"message\"");
    return p;
  }

  /** The bystander account still submits and reads its jobs. */
  private static void othersAreServed() throws Exception {
    var r =
        app.postJson(
            "/v1/jobs",
            "{\"type\":\"text\",\"input\":{\"prompt\":\"still here\"}}",
            "X-API-Key",
            other);
    assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
    String id = ApiTestApp.json(r).path("id").asText();
    assertThat(app.get("/v1/jobs/" + id, "X-API-Key", other).statusCode()).isEqualTo(200);
  }

  @Test
  void aNulCharacterAnywhereInABodyIsAFieldErrorNotAFiveHundred() throws Exception {
    String[] bodies = {
      "{\"type\":\"text\",\"input\":{\"prompt\":\"hi\",\"stop\":[\"a\\u0000b\"]}}",
      "{\"type\":\"text\",\"input\":{\"prompt\":\"hi\"},\"metadata\":{\"k\":\"v\\u0000\"}}",
      "{\"type\":\"text\",\"input\":{\"prompt\":\"hi\"},\"metadata\":{\"k\\u0000\":\"v\"}}",
      "{\"type\":\"text\\u0000\",\"input\":{\"prompt\":\"hi\"}}",
    };
    for (String body : bodies) {
      JsonNode p = problem(submit(body), 400, "validation_failed");
      assertThat(p.path("detail").asText()).as(body).contains("NUL");
    }
    problem(
        app.postJson(
            "/v1/accounts",
            "{\"username\":\"nul\\u0000user\",\"email\":\"a@b.co\",\"password\":\"long enough\"}"),
        400,
        "validation_failed");
    othersAreServed();
  }

  @Test
  void datesBeyondYear9999AreFieldErrors() throws Exception {
    for (String q :
        new String[] {
          "/v1/usage?from=%2B999999999-12-31&to=%2B999999999-12-31",
          "/v1/usage?from=2026-01-01&to=%2B999999999-12-31",
          "/v1/usage?from=-999999999-01-01&to=2026-01-01",
        }) {
      problem(app.get(q, "X-API-Key", key), 400, "validation_failed");
    }
    problem(
        app.get("/v1/admin/invoices?month=%2B999999999-12", "X-API-Key", ADMIN),
        400,
        "validation_failed");
    problem(
        app.send(
            "PUT",
            "/v1/admin/accounts/acc_x/plan",
            "application/json",
            "{\"text\":{\"plan\":\"payg\",\"effective_from\":\"+999999999-01-01\"}}",
            "X-API-Key",
            ADMIN),
        400,
        "validation_failed");
  }

  @Test
  void maxTokensPastTheContextIsContextLengthExceededWithTheNumbers() throws Exception {
    JsonNode p =
        problem(
            submit("{\"type\":\"text\",\"input\":{\"prompt\":\"hello\",\"max_tokens\":30000}}"),
            400,
            "context_length_exceeded");
    assertThat(p.path("max_context_tokens").asInt()).isEqualTo(20_000);
    assertThat(p.path("max_tokens").asInt()).isEqualTo(30_000);
    assertThat(p.path("prompt_tokens").asInt()).isPositive();
  }

  @Test
  void aThreeMegabytePngAsBase64InJsonIsAccepted() throws Exception {
    byte[] png = noisePng(1000, 1000);
    assertThat(png.length).isGreaterThan(2_500_000);
    String b64 = Base64.getEncoder().encodeToString(png);
    for (String image : new String[] {b64, "data:image/png;base64," + b64}) {
      var r =
          submit(
              "{\"type\":\"image\",\"input\":{\"image\":\""
                  + image
                  + "\",\"prompt\":\"<grounding>An image of\"}}");
      assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
      assertThat(ApiTestApp.json(r).path("input").path("image").path("width").asInt())
          .isEqualTo(1000);
    }
  }

  @Test
  void aTwelveMegabytePromptGetsAReadableAnswer() throws Exception {
    String prompt = "word ".repeat(12 * 1024 * 1024 / 5);
    var r = submit("{\"type\":\"text\",\"input\":{\"prompt\":\"" + prompt + "\"}}");
    JsonNode p = problem(r, 400, "validation_failed");
    assertThat(p.path("field").asText()).isEqualTo("input.prompt");
    othersAreServed();
  }

  @Test
  void aMillionMetadataKeysAreRefusedAtTheSeventeenth() throws Exception {
    StringBuilder meta = new StringBuilder("{");
    for (int i = 0; i < 1_000_000; i++) {
      meta.append(i == 0 ? "" : ",").append("\"k").append(i).append("\":\"v\"");
    }
    meta.append('}');
    JsonNode p =
        problem(
            submit("{\"type\":\"text\",\"input\":{\"prompt\":\"hi\"},\"metadata\":" + meta + "}"),
            400,
            "validation_failed");
    assertThat(p.path("detail").asText()).contains("16 metadata keys");
    assertThat(p.path("field").asText()).isEqualTo("metadata");
  }

  @Test
  void aSixteenBitRgbaBombAsAMultipartPartIsDecodedSubsampledAndTheApiLives() throws Exception {
    byte[] bomb = com.kosmosx.api.jobs.ImageNormalizerTest.sixteenBitRgbaBomb(7000);
    String boundary = "b" + UUID.randomUUID();
    ByteArrayOutputStream body = new ByteArrayOutputStream();
    body.write(
        ("--"
                + boundary
                + "\r\nContent-Disposition: form-data; name=\"request\"\r\n"
                + "Content-Type: application/json\r\n\r\n"
                + "{\"type\":\"image\",\"input\":{\"prompt\":\"An image of\"}}\r\n"
                + "--"
                + boundary
                + "\r\nContent-Disposition: form-data; name=\"image\"; filename=\"b.png\"\r\n"
                + "Content-Type: image/png\r\n\r\n")
            .getBytes(StandardCharsets.ISO_8859_1));
    body.write(bomb);
    body.write(("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.ISO_8859_1));
    for (int i = 0; i < 3; i++) {
      var r =
          app.sendBytes(
              "POST",
              "/v1/jobs",
              "multipart/form-data; boundary=" + boundary,
              body.toByteArray(),
              false,
              "X-API-Key",
              key);
      assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
      assertThat(ApiTestApp.json(r).path("input").path("image").path("width").asInt())
          .isEqualTo(7000);
    }
    othersAreServed();
  }

  @Test
  void theDatabaseAwayIs503UnavailableWithRetryAfterAndNoDefaultErrorBody() throws Exception {
    String db = SharedPlatform.freshDatabase("hostile_dbdown");
    String name = db.substring(db.lastIndexOf('/') + 1).replaceAll("\\?.*", "");
    try (ApiTestApp away =
        new ApiTestApp(
                "config.yml",
                db,
                ApiTestApp.setting("outbox.relayEnabled", "false"),
                ApiTestApp.setting("database.maxWaitForConnection", "1s"))
            .start()) {
      String k = away.newAccountKey("away" + UUID.randomUUID().toString().substring(0, 6));
      assertThat(away.get("/v1/jobs", "X-API-Key", k).statusCode()).isEqualTo(200);
      try (Connection c = DriverManager.getConnection(serverUrl(db), "postgres", "")) {
        c.createStatement().execute("ALTER DATABASE " + name + " ALLOW_CONNECTIONS false");
        c.createStatement()
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '"
                    + name
                    + "'");
      }
      try {
        for (String path : new String[] {"/v1/jobs", "/v1/usage?from=2026-01-01&to=2026-01-31"}) {
          var r = away.get(path, "X-API-Key", k);
          JsonNode p = problem(r, 503, "unavailable");
          assertThat(r.headers().firstValue("Retry-After")).isPresent();
          assertThat(p.has("message")).isFalse();
        }
        var submit =
            away.postJson(
                "/v1/jobs", "{\"type\":\"text\",\"input\":{\"prompt\":\"x\"}}", "X-API-Key", k);
        problem(submit, 503, "unavailable");
        problem(
            away.postJson(
                "/v1/accounts",
                "{\"username\":\"dbdown1\",\"email\":\"a@b.co\",\"password\":\"long enough\"}"),
            503,
            "unavailable");
      } finally {
        try (Connection c = DriverManager.getConnection(serverUrl(db), "postgres", "")) {
          c.createStatement().execute("ALTER DATABASE " + name + " ALLOW_CONNECTIONS true");
        }
      }
      // Back as soon as the database is.
      long end = System.nanoTime() + 30_000_000_000L;
      int status;
      do {
        status = away.get("/v1/jobs", "X-API-Key", k).statusCode();
      } while (status != 200 && System.nanoTime() < end);
      assertThat(status).isEqualTo(200);
    }
  }

  @Test
  void closingAnAccountCancelsItsJobsAndErasesEveryContentItHeld() throws Exception {
    String user = "closer" + UUID.randomUUID().toString().substring(0, 6);
    String k = app.newAccountKey(user);
    String account;
    String job;
    var r =
        app.postJson(
            "/v1/jobs",
            "{\"type\":\"text\",\"input\":{\"prompt\":\"secret prompt\"},"
                + "\"metadata\":{\"customer\":\"secret\"}}",
            "X-API-Key",
            k,
            "Idempotency-Key",
            "idem-1");
    assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
    job = ApiTestApp.json(r).path("id").asText();
    try (Connection c = DriverManager.getConnection(app.jdbcUrl(), "postgres", "")) {
      var rs =
          c.createStatement().executeQuery("SELECT account_id FROM jobs WHERE id = '" + job + "'");
      rs.next();
      account = rs.getString(1);
      // A delivery as the projection would have written it when the job started.
      c.createStatement()
          .execute(
              "INSERT INTO webhook_deliveries (id, job_id, account_id, event, url, payload,"
                  + " status, next_attempt_at, created_at) VALUES ('msg_"
                  + job
                  + "_started', '"
                  + job
                  + "', '"
                  + account
                  + "', 'started', 'http://127.0.0.1:9/h', 'secret payload'::bytea, 'pending',"
                  + " now() + interval '1 hour', now())");
    }
    String basic =
        "Basic "
            + Base64.getEncoder()
                .encodeToString((user + ":correct horse battery").getBytes(StandardCharsets.UTF_8));
    assertThat(
            app.send("DELETE", "/v1/accounts/me", null, null, "Authorization", basic).statusCode())
        .isEqualTo(204);
    try (Connection c = DriverManager.getConnection(app.jdbcUrl(), "postgres", "")) {
      var st = c.createStatement();
      var rs =
          st.executeQuery(
              "SELECT input IS NULL, metadata IS NULL, cancel_requested_at IS NOT NULL"
                  + " FROM jobs WHERE id = '"
                  + job
                  + "'");
      assertThat(rs.next()).isTrue();
      assertThat(rs.getBoolean(1)).as("input erased").isTrue();
      assertThat(rs.getBoolean(2)).as("metadata erased").isTrue();
      assertThat(rs.getBoolean(3)).as("cancel requested").isTrue();
      rs =
          st.executeQuery(
              "SELECT count(*) FROM outbox WHERE topic = 'kosmos.job-control.v1' AND msg_key = '"
                  + job
                  + "'");
      rs.next();
      assertThat(rs.getInt(1)).as("a cancel on its way to the worker").isEqualTo(1);
      rs =
          st.executeQuery(
              "SELECT count(*) FROM idempotency_keys WHERE account_id = '" + account + "'");
      rs.next();
      assertThat(rs.getInt(1)).as("idempotency answers").isZero();
      rs =
          st.executeQuery(
              "SELECT length(payload), status FROM webhook_deliveries WHERE account_id = '"
                  + account
                  + "'");
      assertThat(rs.next()).isTrue();
      assertThat(rs.getInt(1)).as("webhook payload").isZero();
      assertThat(rs.getString(2)).isEqualTo("failed");
    }
    assertThat(app.get("/v1/jobs/" + job, "X-API-Key", k).statusCode()).isEqualTo(401);
  }

  @Test
  void moreKeysNeverBuyMoreSubmissionsAndLiveKeysAreCapped() throws Exception {
    String db = SharedPlatform.freshDatabase("hostile_keys");
    try (ApiTestApp capped =
        new ApiTestApp(
                "config.yml",
                db,
                ApiTestApp.setting("rateLimits.jobSubmissionsPerMinute", "10"),
                ApiTestApp.setting("rateLimits.maxLiveKeysPerAccount", "3"),
                ApiTestApp.setting("outbox.relayEnabled", "false"))
            .start()) {
      String user = "keys" + UUID.randomUUID().toString().substring(0, 6);
      String first = capped.newAccountKey(user);
      String basic =
          "Basic "
              + Base64.getEncoder()
                  .encodeToString(
                      (user + ":correct horse battery").getBytes(StandardCharsets.UTF_8));
      java.util.List<String> keys = new java.util.ArrayList<>(java.util.List.of(first));
      for (int i = 0; i < 2; i++) {
        var r = capped.postJson("/v1/api-keys", "{}", "Authorization", basic);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(201);
        keys.add(ApiTestApp.json(r).path("key").asText());
      }
      problem(capped.postJson("/v1/api-keys", "{}", "Authorization", basic), 409, "conflict");
      // Stay inside one one-minute window.
      while (java.time.Instant.now().getEpochSecond() % 60 > 40) {
        Thread.sleep(500);
      }
      int accepted = 0;
      for (int i = 0; i < 30; i++) {
        var r =
            capped.postJson(
                "/v1/jobs",
                "{\"type\":\"text\",\"input\":{\"prompt\":\"x\"}}",
                "X-API-Key",
                keys.get(i % 3));
        if (r.statusCode() == 202) {
          accepted++;
        } else {
          problem(r, 429, "rate_limited");
        }
      }
      assertThat(accepted).as("three keys, one account limit of 10").isEqualTo(10);
    }
  }

  @Test
  void aBurstOfWrongPasswordsGetsAtMostTheLimitOfBcryptChecks() throws Exception {
    try (ApiTestApp burst =
        new ApiTestApp(
                "config.yml",
                SharedPlatform.freshDatabase("hostile_burst"),
                ApiTestApp.setting("rateLimits.failedPasswordsPerAddress", "20"),
                ApiTestApp.setting("outbox.relayEnabled", "false"))
            .start()) {
      String user = "burst" + UUID.randomUUID().toString().substring(0, 6);
      burst.newAccountKey(user);
      long before = bcryptCount(burst);
      String wrong =
          "Basic "
              + Base64.getEncoder()
                  .encodeToString((user + ":wrong password").getBytes(StandardCharsets.UTF_8));
      var pool = java.util.concurrent.Executors.newFixedThreadPool(50);
      try {
        java.util.List<java.util.concurrent.Future<Integer>> calls = new java.util.ArrayList<>();
        for (int i = 0; i < 200; i++) {
          calls.add(
              pool.submit(() -> burst.get("/v1/api-keys", "Authorization", wrong).statusCode()));
        }
        int unauthorized = 0;
        int limited = 0;
        for (var f : calls) {
          int status = f.get(120, java.util.concurrent.TimeUnit.SECONDS);
          if (status == 401) {
            unauthorized++;
          } else if (status == 429) {
            limited++;
          }
        }
        long checks = bcryptCount(burst) - before;
        System.out.printf(
            "200 concurrent wrong passwords: %d checked (401), %d refused (429), %d bcrypt runs%n",
            unauthorized, limited, checks);
        assertThat(unauthorized + limited).isEqualTo(200);
        assertThat(unauthorized).isLessThanOrEqualTo(20);
        assertThat(checks).isLessThanOrEqualTo(20);
      } finally {
        pool.shutdown();
      }
    }
  }

  private static long bcryptCount(ApiTestApp a) throws Exception {
    var r =
        java.net.http.HttpClient.newHttpClient()
            .send(
                java.net.http.HttpRequest.newBuilder(
                        java.net.URI.create("http://localhost:" + a.adminPort() + "/metrics"))
                    .build(),
                HttpResponse.BodyHandlers.ofString());
    // Prometheus's text format: "kosmos_password_hashes_total 12.0".
    return r.body()
        .lines()
        .filter(l -> l.startsWith("kosmos_password_hashes_total "))
        .mapToLong(l -> (long) Double.parseDouble(l.substring(l.indexOf(' ') + 1)))
        .findFirst()
        .orElseThrow(() -> new AssertionError("no kosmos_password_hashes_total in /metrics"));
  }

  private static String serverUrl(String db) {
    return db.substring(0, db.lastIndexOf('/') + 1) + "postgres";
  }

  static byte[] noisePng(int w, int h) throws Exception {
    var img = new java.awt.image.BufferedImage(w, h, java.awt.image.BufferedImage.TYPE_INT_RGB);
    Random random = new Random(12);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        img.setRGB(x, y, random.nextInt(0xFFFFFF));
      }
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    javax.imageio.ImageIO.write(img, "png", out);
    return out.toByteArray();
  }
}
