package com.kosmosx.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.kosmosx.contracts.JobEvent;
import com.kosmosx.contracts.JobRequest;
import com.kosmosx.contracts.Topics;
import com.kosmosx.platform.SharedPlatform;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** api-service against the real embedded PostgreSQL and Kafka. */
class ApiServiceIT {
  private static String jdbcUrl;
  private static ApiTestApp app;

  @BeforeAll
  static void start() throws Exception {
    jdbcUrl = SharedPlatform.freshDatabase("api_it");
    app = new ApiTestApp("config.yml", jdbcUrl).start();
  }

  @AfterAll
  static void stop() {
    app.close();
  }

  private static String unique(String p) {
    return p + UUID.randomUUID().toString().substring(0, 8);
  }

  @Test
  void createsAnAccountWithAKeyShownOnceAndStoredHashed() throws Exception {
    String user = unique("alice");
    var r =
        app.postJson(
            "/v1/accounts",
            "{\"username\":\""
                + user
                + "\",\"email\":\"a@example.com\",\"password\":\"s3cret-pass\"}");
    assertThat(r.statusCode()).isEqualTo(201);
    JsonNode body = ApiTestApp.json(r);
    String key = body.path("api_key").path("key").asText();
    assertThat(key).startsWith("kx_live_");
    assertThat(body.path("account_id").asText()).startsWith("acc_");
    assertThat(body.path("webhook_secret").asText()).startsWith("whsec_");
    assertThat(body.path("api_key").path("prefix").asText()).isEqualTo(key.substring(0, 12));

    try (Connection c = DriverManager.getConnection(jdbcUrl, "postgres", "");
        Statement s = c.createStatement();
        ResultSet rs =
            s.executeQuery(
                "SELECT a.password_hash, k.key_hash, k.prefix FROM accounts a "
                    + "JOIN api_keys k ON k.account_id = a.id WHERE a.username = '"
                    + user
                    + "'")) {
      assertThat(rs.next()).isTrue();
      assertThat(rs.getString(1)).startsWith("$2a$").doesNotContain("s3cret-pass");
      assertThat(new String(rs.getBytes(2), java.nio.charset.StandardCharsets.ISO_8859_1))
          .doesNotContain(key);
      assertThat(rs.getString(3)).hasSize(12);
    }

    var again =
        app.postJson(
            "/v1/accounts",
            "{\"username\":\""
                + user
                + "\",\"email\":\"b@example.com\",\"password\":\"another-pass\"}");
    assertThat(again.statusCode()).isEqualTo(409);
    assertThat(ApiTestApp.json(again).path("code").asText()).isEqualTo("conflict");
  }

  @Test
  void rejectsWeakAndOverlongPasswords() throws Exception {
    for (String pw : List.of("short", "x".repeat(73), "é".repeat(37))) {
      var r =
          app.postJson(
              "/v1/accounts",
              "{\"username\":\""
                  + unique("bob")
                  + "\",\"email\":\"b@example.com\",\"password\":\""
                  + pw
                  + "\"}");
      assertThat(r.statusCode()).as(pw).isEqualTo(400);
      assertProblem(r, 400, "validation_failed");
    }
  }

  @Test
  void submitIsDurableRelayedToKafkaAndProjectedFromJobEvents() throws Exception {
    // Given an account
    String key = app.newAccountKey(unique("carol"));

    // When it submits a text job
    var r =
        app.postJson(
            "/v1/jobs",
            "{\"type\":\"text\",\"input\":{\"prompt\":\"Once upon a time\",\"max_tokens\":8},"
                + "\"metadata\":{\"order\":\"42\"}}",
            "Authorization",
            "Bearer " + key);

    // Then it is accepted, queued, and points at itself
    assertThat(r.statusCode()).isEqualTo(202);
    JsonNode job = ApiTestApp.json(r);
    String id = job.path("id").asText();
    assertThat(id).startsWith("job_");
    assertThat(r.headers().firstValue("Location")).hasValue("/v1/jobs/" + id);
    assertThat(job.path("status").asText()).isEqualTo("queued");
    assertThat(job.path("input").path("prompt").asText()).isEqualTo("Once upon a time");
    assertThat(job.path("metadata").path("order").asText()).isEqualTo("42");
    assertThat(job.path("urls").path("cancel").asText()).isEqualTo("/v1/jobs/" + id + "/cancel");

    // And the relay publishes it to the shared jobs lane
    JobRequest published = awaitJobRequest(id);
    assertThat(published.input().maxTokens()).isEqualTo(8);
    assertThat(published.deadline()).isAfter(published.submittedAt());

    // When the worker reports progress and success
    String account = published.accountId();
    Instant now = Instant.now();
    publish(JobEvent.started(id, account, now, "w1"));
    publish(
        JobEvent.succeeded(
            id,
            account,
            now.plusMillis(5),
            "w1",
            new JobEvent.Output("Hello there", List.of()),
            new JobEvent.Usage(5, 3, 0)));

    // Then GET shows the result, usage with the 100-token minimum, and the exact cost
    JsonNode done = awaitStatus(id, key, "succeeded");
    assertThat(done.path("output").path("text").asText()).isEqualTo("Hello there");
    assertThat(done.path("usage").path("input_tokens").asInt()).isEqualTo(5);
    assertThat(done.path("usage").path("output_tokens").asInt()).isEqualTo(3);
    assertThat(done.path("usage").path("billable_tokens").asInt()).isEqualTo(100);
    assertThat(done.path("usage").path("cost_usd").asText()).isEqualTo("0.020000");
    assertThat(done.path("completed_at").asText()).endsWith("Z");
    // The 202 answer is built without reading the row back; it must match what GET shows.
    assertThat(done.path("created_at").asText()).isEqualTo(job.path("created_at").asText());
    assertThat(done.path("input")).isEqualTo(job.path("input"));

    // And a late duplicate failure event does not overwrite the first terminal state
    publish(JobEvent.failed(id, account, now.plusSeconds(1), "w2", new JobEvent.Error("x", "y")));
    publish(JobEvent.started("job_sentinel", account, now, "w2"));
    Thread.sleep(500);
    assertThat(ApiTestApp.json(app.get("/v1/jobs/" + id, "X-API-Key", key)).path("status").asText())
        .isEqualTo("succeeded");
  }

  @Test
  void servesTheOpenApiDocumentAndSwaggerUi() throws Exception {
    var spec = app.get("/openapi.json");
    assertThat(spec.statusCode()).isEqualTo(200);
    assertThat(ApiTestApp.json(spec).path("openapi").asText()).startsWith("3.");
    assertThat(ApiTestApp.json(spec).path("paths").has("/v1/jobs")).isTrue();
    var ui = app.get("/docs");
    assertThat(ui.statusCode()).isEqualTo(200);
    assertThat(ui.body()).contains("SwaggerUIBundle").contains("/openapi.json");
    var js = app.get("/docs/swagger-ui-bundle.js");
    assertThat(js.statusCode()).isEqualTo(200);
    assertThat(js.body().length()).isGreaterThan(100_000);
    assertThat(app.get("/docs/../../etc/passwd").statusCode()).isIn(400, 404);
    assertThat(app.get("/docs/index.html").statusCode()).isEqualTo(404);
  }

  @Test
  void anotherAccountsJobIsNotFound() throws Exception {
    String owner = app.newAccountKey(unique("dave"));
    String other = app.newAccountKey(unique("erin"));
    var r =
        app.postJson(
            "/v1/jobs", "{\"type\":\"text\",\"input\":{\"prompt\":\"hi\"}}", "X-API-Key", owner);
    String id = ApiTestApp.json(r).path("id").asText();
    assertThat(app.get("/v1/jobs/" + id, "X-API-Key", owner).statusCode()).isEqualTo(200);
    assertProblem(app.get("/v1/jobs/" + id, "X-API-Key", other), 404, "not_found");
  }

  private static String multipart(String boundary, String request, byte[] image) {
    StringBuilder b = new StringBuilder();
    if (request != null) {
      b.append("--")
          .append(boundary)
          .append("\r\nContent-Disposition: form-data; name=\"request\"\r\n")
          .append("Content-Type: application/json\r\n\r\n")
          .append(request)
          .append("\r\n");
    }
    if (image != null) {
      b.append("--")
          .append(boundary)
          .append("\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x.png\"\r\n")
          .append("Content-Type: application/octet-stream\r\n\r\n")
          .append(new String(image, java.nio.charset.StandardCharsets.ISO_8859_1))
          .append("\r\n");
    }
    return b.append("--").append(boundary).append("--\r\n").toString();
  }

  private static byte[] png(int w, int h) throws Exception {
    var out = new java.io.ByteArrayOutputStream();
    javax.imageio.ImageIO.write(
        new java.awt.image.BufferedImage(w, h, java.awt.image.BufferedImage.TYPE_INT_RGB),
        "png",
        out);
    return out.toByteArray();
  }

  private HttpResponse<String> postMultipart(String body, String boundary, String[] auth)
      throws Exception {
    return app.sendBytes(
        "POST",
        "/v1/jobs",
        "multipart/form-data; boundary=" + boundary,
        body.getBytes(java.nio.charset.StandardCharsets.ISO_8859_1),
        false,
        auth);
  }

  @Test
  void imageSubmissionsAreValidatedAtSubmit() throws Exception {
    String key = app.newAccountKey(unique("iris"));
    String[] auth = {"Authorization", "Bearer " + key};
    String b64 = java.util.Base64.getEncoder().encodeToString(png(40, 30));

    // Accepted as JSON (base64 and data URL) and as multipart, with the original described.
    for (String image : List.of(b64, "data:image/png;base64," + b64)) {
      var ok =
          app.postJson(
              "/v1/jobs", "{\"type\":\"image\",\"input\":{\"image\":\"" + image + "\"}}", auth);
      assertThat(ok.statusCode()).as(ok.body()).isEqualTo(202);
      var echo = ApiTestApp.json(ok).path("input");
      assertThat(echo.path("image").path("width").asInt()).isEqualTo(40);
      assertThat(echo.path("image").path("format").asText()).isEqualTo("png");
      assertThat(echo.path("detect_objects").asBoolean()).isTrue();
      assertThat(echo.path("prompt").asText()).isEqualTo("An image of");
    }
    String boundary = "b0undary";
    var ok =
        postMultipart(
            multipart(
                boundary, "{\"type\":\"image\",\"input\":{\"detect_objects\":false}}", png(10, 10)),
            boundary,
            auth);
    assertThat(ok.statusCode()).as(ok.body()).isEqualTo(202);
    assertThat(ApiTestApp.json(ok).path("input").path("detect_objects").asBoolean()).isFalse();

    // Refused, each with a problem that says why.
    assertProblem(
        app.postJson(
            "/v1/jobs", "{\"type\":\"image\",\"input\":{\"image\":\"bm90IGFuIGltYWdl\"}}", auth),
        400,
        "invalid_image");
    assertProblem(
        app.postJson("/v1/jobs", "{\"type\":\"image\",\"input\":{\"image\":\"%%%\"}}", auth),
        400,
        "invalid_image");
    assertProblem(
        app.postJson("/v1/jobs", "{\"type\":\"image\",\"input\":{\"prompt\":\"hi\"}}", auth),
        400,
        "validation_failed");
    assertProblem(
        postMultipart(multipart(boundary, null, png(10, 10)), boundary, auth),
        400,
        "validation_failed");
    assertProblem(
        postMultipart(
            multipart(boundary, "{\"type\":\"image\",\"input\":{}}", null), boundary, auth),
        400,
        "validation_failed");
    assertProblem(
        postMultipart(multipart(boundary, "{\"type\":\"image\",", png(10, 10)), boundary, auth),
        400,
        "validation_failed");
    assertProblem(
        postMultipart(
            multipart(boundary, "{\"type\":\"text\",\"input\":{\"prompt\":\"x\"}}", png(10, 10)),
            boundary,
            auth),
        400,
        "validation_failed");
    assertProblem(
        postMultipart(
            multipart(boundary, "{\"type\":\"image\",\"input\":{}}", "GIF89a junk".getBytes()),
            boundary,
            auth),
        400,
        "invalid_image");
    // A body that is not multipart at all under a multipart content type.
    var garbage = postMultipart("this is not multipart", boundary, auth);
    assertThat(garbage.statusCode()).as(garbage.body()).isEqualTo(400);
    assertThat(garbage.headers().firstValue("Content-Type")).hasValue("application/problem+json");
  }

  @Test
  void badInputOnTheJobEndpointsIsAProblemNeverA500() throws Exception {
    String key = app.newAccountKey(unique("frank"));
    String[] auth = {"Authorization", "Bearer " + key};
    Map<String, String> badBodies =
        Map.ofEntries(
            Map.entry("malformed", "{\"type\":\"text\",\"input\":{\"prompt\":\"x\""),
            Map.entry("not-json", "hello"),
            Map.entry("empty-object", "{}"),
            Map.entry("array", "[1,2]"),
            Map.entry("string", "\"text\""),
            Map.entry("missing-prompt", "{\"type\":\"text\",\"input\":{}}"),
            Map.entry("missing-input", "{\"type\":\"text\"}"),
            Map.entry("prompt-number", "{\"type\":\"text\",\"input\":{\"prompt\":5}}"),
            Map.entry("prompt-object", "{\"type\":\"text\",\"input\":{\"prompt\":{}}}"),
            Map.entry(
                "max-tokens-string",
                "{\"type\":\"text\",\"input\":{\"prompt\":\"x\",\"max_tokens\":\"5\"}}"),
            Map.entry(
                "max-tokens-float",
                "{\"type\":\"text\",\"input\":{\"prompt\":\"x\",\"max_tokens\":1.5}}"),
            Map.entry(
                "max-tokens-huge",
                "{\"type\":\"text\",\"input\":{\"prompt\":\"x\",\"max_tokens\":99999999999999}}"),
            Map.entry(
                "max-tokens-negative",
                "{\"type\":\"text\",\"input\":{\"prompt\":\"x\",\"max_tokens\":-1}}"),
            Map.entry("type-number", "{\"type\":1,\"input\":{\"prompt\":\"x\"}}"),
            Map.entry("type-unknown", "{\"type\":\"video\",\"input\":{\"prompt\":\"x\"}}"),
            Map.entry(
                "unknown-field", "{\"type\":\"text\",\"input\":{\"prompt\":\"x\"},\"colour\":1}"),
            Map.entry(
                "duplicate-key",
                "{\"type\":\"text\",\"type\":\"text\",\"input\":{\"prompt\":\"x\"}}"),
            Map.entry(
                "metadata-nested",
                "{\"type\":\"text\",\"input\":{\"prompt\":\"x\"},\"metadata\":{\"a\":{\"b\":1}}}"),
            Map.entry(
                "stop-not-list", "{\"type\":\"text\",\"input\":{\"prompt\":\"x\",\"stop\":5}}"),
            Map.entry("nul-in-prompt", "{\"type\":\"text\",\"input\":{\"prompt\":\"a\\u0000b\"}}"),
            Map.entry(
                "sql-looking",
                "{\"type\":\"text'; DROP TABLE jobs;--\",\"input\":{\"prompt\":\"x\"}}"),
            Map.entry(
                "deep-nesting",
                "{\"type\":\"text\",\"input\":{\"prompt\":\"x\"},\"metadata\":"
                    + "[".repeat(200)
                    + "]".repeat(200)
                    + "}"),
            Map.entry("null-body", "null"));
    for (var e : badBodies.entrySet()) {
      var r = app.postJson("/v1/jobs", e.getValue(), auth);
      assertThat(r.statusCode()).as(e.getKey() + ": " + r.body()).isBetween(400, 499);
      assertThat(r.headers().firstValue("Content-Type").orElse(""))
          .as(e.getKey())
          .startsWith("application/problem+json");
      JsonNode p = ApiTestApp.json(r);
      assertThat(p.path("code").asText()).as(e.getKey()).isNotEmpty();
      assertThat(p.path("status").asInt()).isEqualTo(r.statusCode());
      assertThat(r.body()).doesNotContain("Exception").doesNotContain("at com.");
    }

    assertProblem(app.get("/v1/jobs/job_doesnotexist", auth), 404, "not_found");
    assertProblem(app.get("/v1/jobs/" + "x".repeat(300), auth), 404, "not_found");
    assertProblem(
        app.postJson("/v1/jobs", "{\"type\":\"text\",\"input\":{\"prompt\":\"x\"}}"),
        401,
        "invalid_api_key");
    assertProblem(
        app.postJson(
            "/v1/jobs",
            "{\"type\":\"text\",\"input\":{\"prompt\":\"x\"}}",
            "Authorization",
            "Bearer kx_live_nope"),
        401,
        "invalid_api_key");
    assertProblem(app.get("/v1/jobs/job_x", "X-API-Key", ""), 401, "invalid_api_key");
    assertProblem(
        app.send("POST", "/v1/jobs", "text/plain", "prompt=x", auth),
        415,
        "unsupported_media_type");
    // A long prompt fits the job endpoint's body limit (sized for images) but not the prompt rule.
    assertProblem(
        app.postJson(
            "/v1/jobs",
            "{\"type\":\"text\",\"input\":{\"prompt\":\"" + "x".repeat(1_100_000) + "\"}}",
            auth),
        400,
        "validation_failed");
    // Over the job endpoint's 28 MiB limit: BadInputCorpusIT sends that over a raw socket, since
    // a client still writing when the 413 and Connection: close arrive may see only the reset.
    assertProblem(app.send("DELETE", "/v1/jobs", null, null, auth), 405, "method_not_allowed");
    assertProblem(app.get("/v1/nothing-here", auth), 404, "not_found");
  }

  static void assertProblem(HttpResponse<String> r, int status, String code) throws Exception {
    assertThat(r.statusCode()).as(r.body()).isEqualTo(status);
    assertThat(r.headers().firstValue("Content-Type").orElse(""))
        .startsWith("application/problem+json");
    JsonNode p = ApiTestApp.json(r);
    assertThat(p.path("code").asText()).isEqualTo(code);
    assertThat(p.path("status").asInt()).isEqualTo(status);
    assertThat(p.path("title").asText()).isNotEmpty();
    assertThat(p.path("type").asText()).isNotEmpty();
  }

  static JsonNode awaitStatus(String id, String key, String status) throws Exception {
    long end = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    JsonNode last = null;
    while (System.nanoTime() < end) {
      last = ApiTestApp.json(app.get("/v1/jobs/" + id, "X-API-Key", key));
      if (status.equals(last.path("status").asText())) {
        return last;
      }
      Thread.sleep(50);
    }
    throw new AssertionError("job " + id + " never reached " + status + ": " + last);
  }

  static JobRequest awaitJobRequest(String id) {
    Properties p = new Properties();
    p.put("bootstrap.servers", SharedPlatform.kafka().bootstrapServers());
    p.put("group.id", "it-" + UUID.randomUUID());
    p.put("auto.offset.reset", "earliest");
    try (var c = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer())) {
      c.subscribe(List.of(Topics.JOBS_SHARED.name()));
      long end = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      while (System.nanoTime() < end) {
        for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(200))) {
          if (id.equals(r.key())) {
            return Topics.JOBS_SHARED.deserializeValue(r.value());
          }
        }
      }
    }
    throw new AssertionError("job " + id + " never reached Kafka");
  }

  static void publish(JobEvent e) throws Exception {
    Properties p = new Properties();
    p.put("bootstrap.servers", SharedPlatform.kafka().bootstrapServers());
    try (var producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer())) {
      producer
          .send(
              new ProducerRecord<>(
                  Topics.JOB_EVENTS.name(), e.jobId(), Topics.JOB_EVENTS.serializeValue(e)))
          .get();
    }
  }
}
