package com.kosmosx.localstack;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.kosmosx.api.ApiApplication;
import com.kosmosx.api.ApiConfiguration;
import com.kosmosx.contracts.Topics;
import com.kosmosx.contracts.UsageRollup;
import com.kosmosx.metering.MeteringApplication;
import com.kosmosx.metering.MeteringConfiguration;
import com.kosmosx.platform.EmbeddedKafka;
import com.kosmosx.platform.SharedPlatform;
import com.kosmosx.platform.SseClient;
import com.kosmosx.worker.WorkerApplication;
import com.kosmosx.worker.WorkerConfiguration;
import io.dropwizard.testing.ConfigOverride;
import io.dropwizard.testing.DropwizardTestSupport;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The whole pipeline in one JVM on the real platform: API -> PostgreSQL -> outbox -> Kafka ->
 * worker (real DJL model) -> job events -> API projection, and usage -> metering rollups.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class EndToEndIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final HttpClient HTTP = HttpClient.newHttpClient();
  private static final String ADMIN = "kx_live_e2e_bootstrap_admin_key_0123456789abcdef";

  /**
   * The seed's prices but a 300-token dedicated text allowance, so a few jobs go over it; given to
   * both the API (invoices) and metering (rollups), as a deployment must.
   */
  private static ConfigOverride[] prices(String app) {
    Map<String, String> p = new java.util.LinkedHashMap<>();
    for (String product : List.of("text", "image")) {
      boolean text = product.equals("text");
      p.put("prices." + product + ".paygRate", text ? "0.20" : "0.50");
      p.put("prices." + product + ".unitsPerRate", text ? "1000" : "1");
      p.put("prices." + product + ".dedicatedMonthlyFee", text ? "150000" : "200000");
      p.put("prices." + product + ".dedicatedAllowance", text ? "300" : "1000000");
      p.put("prices." + product + ".overageRate", text ? "0.20" : "0.50");
    }
    p.put("prices.detectionSurchargePerImage", "0");
    return p.entrySet().stream()
        .map(e -> ConfigOverride.config(app, e.getKey(), e.getValue()))
        .toArray(ConfigOverride[]::new);
  }

  private static ConfigOverride[] with(ConfigOverride[] a, ConfigOverride... b) {
    ConfigOverride[] out = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  private static DropwizardTestSupport<ApiConfiguration> api;

  /** A second API instance on the same database: it holds streams of jobs the first one took. */
  private static DropwizardTestSupport<ApiConfiguration> apiB;

  private static DropwizardTestSupport<WorkerConfiguration> worker;
  private static DropwizardTestSupport<MeteringConfiguration> metering;

  // Each app reads its overrides from system properties under its own prefix; with the default
  // prefix, one app's overrides would leak into the next app's configuration.

  @BeforeAll
  static void start() throws Exception {
    String kafka = SharedPlatform.kafka().bootstrapServers();
    String quiet = "WARN";
    String db = SharedPlatform.freshDatabase("e2e");
    api =
        new DropwizardTestSupport<>(
            ApiApplication.class,
            "../api-service/config.yml",
            "api",
            with(
                prices("api"),
                ConfigOverride.config("api", "server.applicationConnectors[0].port", "0"),
                ConfigOverride.config("api", "server.adminConnectors[0].port", "0"),
                ConfigOverride.config("api", "database.url", db),
                ConfigOverride.config("api", "kafka.bootstrapServers", kafka),
                ConfigOverride.config("api", "auth.bcryptCost", "4"),
                ConfigOverride.config("api", "auth.bootstrapAdminKey", ADMIN),
                ConfigOverride.config(
                    "api", "jobs.tokenizer", "../model/tiny-kosmos/tokenizer.json"),
                ConfigOverride.config("api", "logging.level", quiet)));
    apiB =
        new DropwizardTestSupport<>(
            ApiApplication.class,
            "../api-service/config.yml",
            "apib",
            with(
                prices("apib"),
                ConfigOverride.config("apib", "server.applicationConnectors[0].port", "0"),
                ConfigOverride.config("apib", "server.adminConnectors[0].port", "0"),
                ConfigOverride.config("apib", "database.url", db),
                ConfigOverride.config("apib", "kafka.bootstrapServers", kafka),
                ConfigOverride.config("apib", "auth.bcryptCost", "4"),
                ConfigOverride.config("apib", "auth.bootstrapAdminKey", ADMIN),
                ConfigOverride.config(
                    "apib", "jobs.tokenizer", "../model/tiny-kosmos/tokenizer.json"),
                ConfigOverride.config("apib", "logging.level", quiet)));
    worker =
        new DropwizardTestSupport<>(
            WorkerApplication.class,
            "../inference-worker/config.yml",
            "worker",
            ConfigOverride.config("worker", "server.adminConnectors[0].port", "0"),
            ConfigOverride.config("worker", "kafkaBootstrap", kafka),
            ConfigOverride.config("worker", "model.path", "../model/tiny-kosmos"),
            // One worker serving both lanes, each with its own loop: the reserved capacity.
            ConfigOverride.config("worker", "lanes", "shared,dedicated"),
            ConfigOverride.config("worker", "logging.level", quiet));
    metering =
        new DropwizardTestSupport<>(
            MeteringApplication.class,
            "../metering-stream/config.yml",
            "metering",
            with(
                prices("metering"),
                ConfigOverride.config("metering", "server.adminConnectors[0].port", "0"),
                ConfigOverride.config("metering", "kafkaBootstrap", kafka),
                ConfigOverride.config(
                    "metering", "applicationId", "metering-e2e-" + UUID.randomUUID()),
                ConfigOverride.config(
                    "metering", "stateDir", Files.createTempDirectory("metering-e2e").toString()),
                ConfigOverride.config("metering", "commitInterval", "100ms"),
                ConfigOverride.config("metering", "logging.level", quiet)));
    api.before();
    apiB.before();
    worker.before();
    metering.before();
  }

  @AfterAll
  static void stop() {
    metering.after();
    worker.after();
    apiB.after();
    api.after();
  }

  @Test
  @Order(1)
  void aTextJobRunsThroughTheRealModelAndIsMeteredOnce() throws Exception {
    // Given a new account
    String user = "e2e" + UUID.randomUUID().toString().substring(0, 8);
    JsonNode account =
        post(
            "/v1/accounts",
            "{\"username\":\""
                + user
                + "\",\"email\":\"e2e@example.com\",\"password\":\"long enough pw\"}",
            null);
    String key = account.path("api_key").path("key").asText();
    String accountId = account.path("account_id").asText();

    // When it submits a text job
    JsonNode submitted =
        post(
            "/v1/jobs",
            "{\"type\":\"text\",\"input\":{\"prompt\":\"Once upon a time\",\"max_tokens\":24}}",
            key);
    assertThat(submitted.path("status").asText()).isEqualTo("queued");

    // Then it succeeds with the model's text and token usage
    JsonNode done = awaitTerminal(submitted.path("id").asText(), key);
    assertThat(done.path("status").asText()).isEqualTo("succeeded");
    assertThat(done.path("output").path("text").asText()).isNotBlank();
    assertThat(done.path("usage").path("input_tokens").asInt()).isPositive();
    assertThat(done.path("usage").path("output_tokens").asInt()).isBetween(1, 24);
    assertThat(done.path("usage").path("billable_tokens").asInt()).isEqualTo(100);
    assertThat(done.path("usage").path("cost_usd").asText()).isEqualTo("0.020000");
    assertThat(done.path("started_at").isNull()).isFalse();

    // And metering counts it once in the account's daily rollup
    UsageRollup rollup = awaitRollup(accountId);
    assertThat(rollup.requests()).isEqualTo(1);
    assertThat(rollup.outputTokens()).isEqualTo(done.path("usage").path("output_tokens").asLong());
    assertThat(rollup.billableTokens()).isEqualTo(100);
  }

  @Test
  @Order(2)
  void theSeedPredictRouteAnswersSynchronouslyFromTheModel() throws Exception {
    String user = "pred" + UUID.randomUUID().toString().substring(0, 8);
    String key =
        post("/register", "{\"username\":\"" + user + "\",\"password\":\"long enough pw\"}", null)
            .path("api_key")
            .asText();
    HttpResponse<String> r =
        HTTP.send(
            HttpRequest.newBuilder(
                    URI.create("http://localhost:" + api.getLocalPort() + "/predict"))
                .header("Content-Type", "application/json")
                .header("x-api-key", key)
                .POST(HttpRequest.BodyPublishers.ofString("{\"text\":\"Once upon a time\"}"))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    assertThat(JSON.readTree(r.body()).path("response").asText()).isNotBlank();
  }

  @Test
  @Order(3)
  void jobsAcceptedWhileTheBrokerIsDownAllFinishOnceItIsBack() throws Exception {
    String user = "outage" + UUID.randomUUID().toString().substring(0, 8);
    String key =
        post(
                "/v1/accounts",
                "{\"username\":\""
                    + user
                    + "\",\"email\":\"o@example.com\",\"password\":\"long enough pw\"}",
                null)
            .path("api_key")
            .path("key")
            .asText();
    EmbeddedKafka kafka = SharedPlatform.kafka();
    List<String> ids = new ArrayList<>();

    // Given the broker is stopped for 20 s: past the producers' 10 s delivery timeout and the
    // clients' 15 s request timeout, so every send in between fails and must be retried
    kafka.stop();
    long down = System.nanoTime();
    try {
      // When jobs are submitted during the outage, they are all accepted
      while (System.nanoTime() - down < Duration.ofSeconds(20).toNanos()) {
        if (ids.size() < 6) {
          JsonNode job =
              post(
                  "/v1/jobs",
                  "{\"type\":\"text\",\"input\":{\"prompt\":\"The weather today\",\"max_tokens\":8}}",
                  key);
          assertThat(job.path("status").asText()).isEqualTo("queued");
          ids.add(job.path("id").asText());
        }
        Thread.sleep(3_000);
      }
    } finally {
      kafka.start();
    }

    // Then every one of them finishes once the broker is back
    for (String id : ids) {
      JsonNode done = awaitTerminal(id, key);
      assertThat(done.path("status").asText()).as(id).isEqualTo("succeeded");
      assertThat(done.path("output").path("text").asText()).isNotBlank();
    }
    assertThat(ids).hasSize(6);
  }

  private static String newKey(String prefix) throws Exception {
    String user = prefix + UUID.randomUUID().toString().substring(0, 8);
    return post(
            "/v1/accounts",
            "{\"username\":\""
                + user
                + "\",\"email\":\"i@example.com\",\"password\":\"long enough pw\"}",
            null)
        .path("api_key")
        .path("key")
        .asText();
  }

  private static byte[] png(int w, int h) throws Exception {
    java.awt.image.BufferedImage img =
        new java.awt.image.BufferedImage(w, h, java.awt.image.BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        img.setRGB(x, y, (x * 255 / w) << 16 | (y * 255 / h) << 8 | 0x60);
      }
    }
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    javax.imageio.ImageIO.write(img, "png", out);
    return out.toByteArray();
  }

  private static void assertObjects(JsonNode done) {
    assertThat(done.path("status").asText()).as(done.toString()).isEqualTo("succeeded");
    JsonNode objects = done.path("output").path("objects");
    assertThat(objects.size()).as(done.toString()).isPositive();
    for (JsonNode o : objects) {
      assertThat(o.path("label").asText()).isNotBlank();
      JsonNode b = o.path("box");
      assertThat(b.path("x0").asDouble()).isBetween(0.0, 1.0).isLessThan(b.path("x1").asDouble());
      assertThat(b.path("y0").asDouble()).isBetween(0.0, 1.0).isLessThan(b.path("y1").asDouble());
      assertThat(b.path("x1").asDouble()).isLessThanOrEqualTo(1.0);
      assertThat(b.path("y1").asDouble()).isLessThanOrEqualTo(1.0);
    }
    // Tags are stripped from the text, as Kosmos-2's post-processing does.
    assertThat(done.path("output").path("text").asText()).doesNotContain("<").isNotBlank();
    assertThat(done.path("usage").path("images").asInt()).isEqualTo(1);
    assertThat(done.path("usage").path("billable_images").asInt()).isEqualTo(1);
  }

  @Test
  @Order(4)
  void anImageJobAsBase64FindsObjects() throws Exception {
    String key = newKey("img");
    byte[] png = png(640, 480);
    JsonNode submitted =
        post(
            "/v1/jobs",
            "{\"type\":\"image\",\"input\":{\"image\":\"data:image/png;base64,"
                + java.util.Base64.getEncoder().encodeToString(png)
                + "\",\"prompt\":\"An image of\",\"max_tokens\":64}}",
            key);
    // The echo describes the original image, never its bytes.
    JsonNode image = submitted.path("input").path("image");
    assertThat(image.path("width").asInt()).isEqualTo(640);
    assertThat(image.path("height").asInt()).isEqualTo(480);
    assertThat(image.path("format").asText()).isEqualTo("png");
    assertThat(image.path("sha256").asText()).hasSize(64);
    assertThat(image.has("data")).isFalse();
    assertThat(submitted.path("input").path("detect_objects").asBoolean()).isTrue();
    assertObjects(awaitTerminal(submitted.path("id").asText(), key));
  }

  @Test
  @Order(5)
  void anImageJobAsMultipartFindsObjects() throws Exception {
    String key = newKey("mp");
    String boundary = "kosmos" + UUID.randomUUID();
    java.io.ByteArrayOutputStream body = new java.io.ByteArrayOutputStream();
    String head =
        "--"
            + boundary
            + "\r\nContent-Disposition: form-data; name=\"request\"\r\n"
            + "Content-Type: application/json\r\n\r\n"
            + "{\"type\":\"image\",\"input\":{\"max_tokens\":64}}\r\n"
            + "--"
            + boundary
            + "\r\nContent-Disposition: form-data; name=\"image\"; filename=\"cat.png\"\r\n"
            + "Content-Type: image/png\r\n\r\n";
    body.write(head.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    body.write(png(300, 300));
    body.write(("\r\n--" + boundary + "--\r\n").getBytes(java.nio.charset.StandardCharsets.UTF_8));
    HttpResponse<String> r =
        HTTP.send(
            HttpRequest.newBuilder(
                    URI.create("http://localhost:" + api.getLocalPort() + "/v1/jobs"))
                .header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .header("Authorization", "Bearer " + key)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body.toByteArray()))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
    JsonNode submitted = JSON.readTree(r.body());
    assertThat(submitted.path("type").asText()).isEqualTo("image");
    assertThat(submitted.path("input").path("prompt").asText()).isEqualTo("An image of");
    assertObjects(awaitTerminal(submitted.path("id").asText(), key));
  }

  @Test
  @Order(6)
  void aCorruptImageAndAnOverlongPromptAreRefusedAtSubmit() throws Exception {
    String key = newKey("bad");
    byte[] png = png(100, 100);
    byte[] corrupt = java.util.Arrays.copyOf(png, png.length / 2);
    HttpResponse<String> r =
        postRaw(
            "{\"type\":\"image\",\"input\":{\"image\":\""
                + java.util.Base64.getEncoder().encodeToString(corrupt)
                + "\"}}",
            key);
    assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
    assertThat(r.headers().firstValue("Content-Type")).hasValue("application/problem+json");
    assertThat(JSON.readTree(r.body()).path("code").asText()).isEqualTo("invalid_image");

    // ~20,000 prompt tokens by the model's tokenizer plus max_tokens 256 do not fit.
    String prompt = "The quick brown fox jumps over the lazy dog. ".repeat(2_100);
    r = postRaw("{\"type\":\"text\",\"input\":{\"prompt\":\"" + prompt + "\"}}", key);
    assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
    JsonNode problem = JSON.readTree(r.body());
    assertThat(problem.path("code").asText()).isEqualTo("context_length_exceeded");
    assertThat(problem.path("max_context_tokens").asInt()).isEqualTo(20_000);
    assertThat(problem.path("max_tokens").asInt()).isEqualTo(256);
    assertThat(problem.path("prompt_tokens").asInt()).isGreaterThan(19_744);
  }

  private static JsonNode get(String path, String key) throws Exception {
    return JSON.readTree(
        HTTP.send(
                HttpRequest.newBuilder(URI.create("http://localhost:" + api.getLocalPort() + path))
                    .header("X-API-Key", key)
                    .build(),
                HttpResponse.BodyHandlers.ofString())
            .body());
  }

  private static HttpResponse<String> cancel(String id, String key) throws Exception {
    return HTTP.send(
        HttpRequest.newBuilder(
                URI.create("http://localhost:" + api.getLocalPort() + "/v1/jobs/" + id + "/cancel"))
            .header("X-API-Key", key)
            .POST(HttpRequest.BodyPublishers.noBody())
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private static String url(DropwizardTestSupport<?> app) {
    return "http://localhost:" + app.getLocalPort();
  }

  @Test
  @Order(7)
  void aChatStreamDeliversTheJobsTextInPiecesThenTheUsageAndDone() throws Exception {
    String key = newKey("stream");
    String body =
        "{\"model\":\"kosmos-2\",\"messages\":[{\"role\":\"system\",\"content\":\"Tell stories.\"},"
            + "{\"role\":\"user\",\"content\":\"Once upon a time\"}],\"max_tokens\":600,"
            + "\"ignore_eos\":true,\"temperature\":1.5,\"seed\":11,\"stream\":true,"
            + "\"stream_options\":{\"include_usage\":true}}";
    List<SseClient.Event> events;
    String id;
    try (SseClient s =
        SseClient.open(
            "POST", url(api) + "/v1/chat/completions", body, "Authorization", "Bearer " + key)) {
      assertThat(s.response.statusCode()).isEqualTo(200);
      id = s.response.headers().firstValue("x-kosmos-job-id").orElseThrow();
      events = s.rest();
    }
    assertThat(events.get(events.size() - 1).data()).isEqualTo("[DONE]");
    StringBuilder text = new StringBuilder();
    int contentChunks = 0;
    String finish = null;
    JsonNode usage = null;
    for (SseClient.Event e : events.subList(0, events.size() - 1)) {
      JsonNode c = JSON.readTree(e.data());
      assertThat(c.path("object").asText()).isEqualTo("chat.completion.chunk");
      assertThat(c.path("id").asText()).isEqualTo(id);
      if (c.path("choices").isEmpty()) {
        usage = c.path("usage");
        continue;
      }
      assertThat(finish).as("nothing after the finish but the usage").isNull();
      JsonNode choice = c.path("choices").get(0);
      if (!choice.path("delta").path("content").asText("").isEmpty()) {
        text.append(choice.path("delta").path("content").asText());
        contentChunks++;
      }
      if (!choice.path("finish_reason").isNull()) {
        finish = choice.path("finish_reason").asText();
      }
    }
    JsonNode done = awaitTerminal(id, key);
    assertThat(done.path("status").asText()).isEqualTo("succeeded");
    assertThat(text.toString()).isEqualTo(done.path("output").path("text").asText());
    // Streamed while generated: 600 tokens take the engine long enough that text leaves before
    // the end even when the relay, writing whatever accumulated, is slow to be scheduled.
    assertThat(contentChunks).as("text streamed before the end").isGreaterThan(1);
    assertThat(finish).isEqualTo("length");
    assertThat(usage.path("completion_tokens").asInt())
        .isEqualTo(done.path("usage").path("output_tokens").asInt());
    assertThat(usage.path("prompt_tokens").asInt())
        .isEqualTo(done.path("usage").path("input_tokens").asInt());
    // A non-streaming completion on the other instance: the same pipeline, one answer.
    HttpResponse<String> plain =
        HTTP.send(
            HttpRequest.newBuilder(URI.create(url(apiB) + "/v1/completions"))
                .header("Authorization", "Bearer " + key)
                .header("Content-Type", "application/json")
                .POST(
                    HttpRequest.BodyPublishers.ofString(
                        "{\"model\":\"kosmos-2\",\"prompt\":\"Once upon a time\",\"max_tokens\":12}"))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(plain.statusCode()).as(plain.body()).isEqualTo(200);
    JsonNode completion = JSON.readTree(plain.body());
    String plainId = completion.path("id").asText();
    assertThat(completion.path("choices").get(0).path("text").asText())
        .isEqualTo(get("/v1/jobs/" + plainId, key).path("output").path("text").asText())
        .isNotEmpty();
    assertThat(get("/v1/jobs?limit=5", key).toString()).contains(plainId, id);
  }

  @Test
  @Order(8)
  void theInstanceThatDidNotTakeTheJobStreamsItsEvents() throws Exception {
    String key = newKey("events");
    String id =
        post(
                "/v1/jobs",
                "{\"type\":\"text\",\"input\":{\"prompt\":\"Once upon a time\",\"max_tokens\":600,"
                    + "\"ignore_eos\":true,\"temperature\":1.5,\"seed\":5,\"stream\":true}}",
                key)
            .path("id")
            .asText();
    List<SseClient.Event> events;
    try (SseClient s =
        SseClient.open(
            "GET",
            url(apiB) + "/v1/jobs/" + id + "/events",
            null,
            "Authorization",
            "Bearer " + key)) {
      events = s.rest();
    }
    List<String> kinds = new ArrayList<>();
    StringBuilder text = new StringBuilder();
    for (SseClient.Event e : events) {
      kinds.add(e.event());
      if (e.event().equals("delta")) {
        JsonNode d = JSON.readTree(e.data());
        assertThat(d.path("offset").asInt()).isEqualTo(text.length());
        text.append(d.path("text").asText());
        assertThat(e.id()).isEqualTo(Integer.toString(text.length()));
      }
    }
    assertThat(kinds.get(kinds.size() - 1)).isEqualTo("completed");
    assertThat(kinds.stream().filter("delta"::equals).count()).isGreaterThan(1);
    JsonNode end = JSON.readTree(events.get(events.size() - 1).data());
    assertThat(end.path("status").asText()).isEqualTo("succeeded");
    assertThat(text.toString()).isEqualTo(end.path("output").path("text").asText());
  }

  @Test
  @Order(9)
  void aStreamingClientThatLeavesStopsItsGenerationAndPaysForWhatWasMade() throws Exception {
    String key = newKey("leaver");
    int maxTokens = 19_000;
    String body =
        "{\"model\":\"kosmos-2\",\"prompt\":\"Once upon a time\",\"max_tokens\":"
            + maxTokens
            + ",\"ignore_eos\":true,\"stream\":true}";
    String id;
    try (SseClient s =
        SseClient.open(
            "POST", url(api) + "/v1/completions", body, "Authorization", "Bearer " + key)) {
      id = s.response.headers().firstValue("x-kosmos-job-id").orElseThrow();
      for (int i = 0; i < 3; i++) {
        assertThat(s.next()).isNotNull();
      }
    } // the client leaves after three pieces
    JsonNode end = awaitTerminal(id, key);
    assertThat(end.path("status").asText()).as(end.toString()).isEqualTo("canceled");
    int made = end.path("usage").path("output_tokens").asInt();
    assertThat(made).isGreaterThan(0).isLessThan(maxTokens);
    // Billed as any job canceled while it ran: its prompt and the tokens made, 100 at least; the
    // month's reconciliation (below) finds the same units in metering.
    assertThat(end.path("usage").path("billable_tokens").asLong())
        .isEqualTo(Math.max(100, end.path("usage").path("input_tokens").asInt() + made));
    assertThat(end.path("usage").path("cost_usd").asText()).isNotEmpty();
  }

  @Test
  @Order(10)
  void cancelStopsARunningJobWithinASecondAndAQueuedOneNeverRuns() throws Exception {
    String key = newKey("cxl");
    // A ~17,000-token prompt (23 tokens a sentence): its prefill alone keeps the worker busy for
    // seconds.
    String longPrompt = "The quick brown fox jumps over the lazy dog. ".repeat(750);
    String running =
        post(
                "/v1/jobs",
                "{\"type\":\"text\",\"input\":{\"prompt\":\""
                    + longPrompt
                    + "\",\"max_tokens\":64}}",
                key)
            .path("id")
            .asText();
    long end = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (!get("/v1/jobs/" + running, key).path("status").asText().equals("running")) {
      assertThat(System.nanoTime()).isLessThan(end);
      Thread.sleep(20);
    }
    // Queued behind it: submitted while the worker is busy, canceled before it is picked up.
    String queued =
        post(
                "/v1/jobs",
                "{\"type\":\"text\",\"input\":{\"prompt\":\"Once upon a time\",\"max_tokens\":8}}",
                key)
            .path("id")
            .asText();
    assertThat(cancel(queued, key).statusCode()).isEqualTo(202);

    Instant asked = Instant.now();
    HttpResponse<String> r = cancel(running, key);
    assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
    JsonNode stopped = awaitTerminal(running, key);
    assertThat(stopped.path("status").asText()).isEqualTo("canceled");
    Instant ended = Instant.parse(stopped.path("completed_at").asText());
    assertThat(Duration.between(asked, ended).toMillis())
        .as("the worker stopped the running job within a second")
        .isLessThan(1_000);
    // Billed for the work done before the cancel: its prompt and the tokens generated so far,
    // with the per-request minimum (metering and the month's reconciliation below agree).
    JsonNode billed = stopped.path("usage");
    assertThat(billed.path("input_tokens").asLong()).as(stopped.toString()).isGreaterThan(10_000);
    assertThat(billed.path("output_tokens").asLong()).isBetween(0L, 64L);
    assertThat(billed.path("billable_tokens").asLong())
        .isEqualTo(
            Math.max(
                100, billed.path("input_tokens").asLong() + billed.path("output_tokens").asLong()));

    JsonNode never = awaitTerminal(queued, key);
    assertThat(never.path("status").asText()).isEqualTo("canceled");
    assertThat(never.path("started_at").isNull()).as("never ran").isTrue();
    assertThat(never.path("usage").isNull()).isTrue();

    // A finished job cannot be canceled.
    assertThat(cancel(running, key).statusCode()).isEqualTo(409);
  }

  @Test
  @Order(11)
  void aDedicatedAccountIsServedWhileTheSharedLaneHasABacklog() throws Exception {
    String payg = newKey("payg");
    String dedicatedKey = newKey("ded");
    String dedicatedAccount = accountOf(dedicatedKey);
    String month = java.time.LocalDate.now(java.time.ZoneOffset.UTC).withDayOfMonth(1).toString();
    HttpResponse<String> plan =
        HTTP.send(
            HttpRequest.newBuilder(
                    URI.create(
                        "http://localhost:"
                            + api.getLocalPort()
                            + "/v1/admin/accounts/"
                            + dedicatedAccount
                            + "/plan"))
                .header("Content-Type", "application/json")
                .header("X-API-Key", ADMIN)
                .PUT(
                    HttpRequest.BodyPublishers.ofString(
                        "{\"text\":{\"plan\":\"dedicated\",\"effective_from\":\"" + month + "\"}}"))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(plan.statusCode()).as(plan.body()).isEqualTo(200);

    // A backlog on the shared lane: long prompts whose prefill keeps the worker busy (about 3,800
    // tokens each with the shipped SentencePiece tokenizer, 29 a sentence).
    String prompt = "The robot walked to the beach and looked at the waves. ".repeat(130);
    List<String> backlog = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      backlog.add(
          post(
                  "/v1/jobs",
                  "{\"type\":\"text\",\"input\":{\"prompt\":\"" + prompt + "\",\"max_tokens\":8}}",
                  payg)
              .path("id")
              .asText());
    }
    // The dedicated account's job, submitted behind all of them.
    long t0 = System.nanoTime();
    String mine =
        post(
                "/v1/jobs",
                "{\"type\":\"text\",\"input\":{\"prompt\":\"Once upon a time\",\"max_tokens\":8}}",
                dedicatedKey)
            .path("id")
            .asText();
    JsonNode done = awaitTerminal(mine, dedicatedKey);
    long ms = (System.nanoTime() - t0) / 1_000_000;
    assertThat(done.path("status").asText()).isEqualTo("succeeded");
    int unfinished = 0;
    for (String id : backlog) {
      String s = get("/v1/jobs/" + id, payg).path("status").asText();
      if (s.equals("queued") || s.equals("running")) {
        unfinished++;
      }
    }
    System.out.printf(
        "dedicated lane: job done in %d ms with %d of %d shared-lane jobs unfinished%n",
        ms, unfinished, backlog.size());
    assertThat(unfinished).as("the dedicated job finished before the backlog drained").isPositive();
    for (String id : backlog) {
      assertThat(awaitTerminal(id, payg).path("status").asText()).isEqualTo("succeeded");
    }
  }

  @Test
  @Order(12)
  void theMonthsInvoiceShowsThePaygAndDedicatedAmountsComputedByHand() throws Exception {
    String paygKey = newKey("inv");
    String dedKey = newKey("invded");
    String paygAccount = accountOf(paygKey); // one 1-token job: 100 billable tokens
    String dedAccount = accountOf(dedKey);
    String month = java.time.YearMonth.now(java.time.ZoneOffset.UTC).toString();
    HttpResponse<String> plan =
        HTTP.send(
            HttpRequest.newBuilder(
                    URI.create(
                        "http://localhost:"
                            + api.getLocalPort()
                            + "/v1/admin/accounts/"
                            + dedAccount
                            + "/plan"))
                .header("Content-Type", "application/json")
                .header("X-API-Key", ADMIN)
                .PUT(
                    HttpRequest.BodyPublishers.ofString(
                        "{\"text\":{\"plan\":\"dedicated\",\"effective_from\":\""
                            + month
                            + "-01\"}}"))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(plan.statusCode()).as(plan.body()).isEqualTo(200);
    // No wait for metering to see the plan: a plan change re-prices what was metered before it.
    long paygTokens = 100; // the accountOf job
    long dedTokens = 0;
    for (int i = 0; i < 3; i++) {
      String a =
          post(
                  "/v1/jobs",
                  "{\"type\":\"text\",\"input\":{\"prompt\":\"Once upon a time\",\"max_tokens\":24}}",
                  paygKey)
              .path("id")
              .asText();
      paygTokens += awaitTerminal(a, paygKey).path("usage").path("billable_tokens").asLong();
    }
    for (int i = 0; i < 4; i++) {
      String d =
          post(
                  "/v1/jobs",
                  "{\"type\":\"text\",\"input\":{\"prompt\":\"The weather today\",\"max_tokens\":24}}",
                  dedKey)
              .path("id")
              .asText();
      dedTokens += awaitTerminal(d, dedKey).path("usage").path("billable_tokens").asLong();
    }
    // The dedicated account's first job ran before its plan was set this month: it is billed
    // under the plan in force on its day, which is the dedicated one (plans apply from the
    // month's start), so it counts too.
    dedTokens += 100;
    // By hand: pay-as-you-go at $0.20 / 1,000 tokens; dedicated $150,000 + overage past 300 tokens.
    BigDecimal paygUsd =
        new BigDecimal(paygTokens)
            .multiply(new BigDecimal("0.0002"))
            .setScale(2, RoundingMode.HALF_UP);
    BigDecimal dedUsd =
        new BigDecimal("150000.00")
            .add(
                new BigDecimal(dedTokens - 300)
                    .multiply(new BigDecimal("0.0002"))
                    .setScale(2, RoundingMode.HALF_UP));
    JsonNode paygLine = null;
    JsonNode dedLine = null;
    long end = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (System.nanoTime() < end) {
      JsonNode invoice = getAdmin("/v1/admin/invoices?month=" + month);
      paygLine = line(invoice, paygAccount);
      dedLine = line(invoice, dedAccount);
      if (paygLine != null
          && dedLine != null
          && paygLine.path("billable_units").asLong() == paygTokens
          && dedLine.path("billable_units").asLong() == dedTokens) {
        break;
      }
      Thread.sleep(250);
    }
    assertThat(paygLine).as("pay-as-you-go line").isNotNull();
    assertThat(paygLine.path("plan").asText()).isEqualTo("payg");
    assertThat(paygLine.path("billable_units").asLong()).isEqualTo(paygTokens);
    assertThat(new BigDecimal(paygLine.path("total_usd").asText())).isEqualByComparingTo(paygUsd);
    assertThat(dedLine).as("dedicated line").isNotNull();
    assertThat(dedLine.path("plan").asText()).isEqualTo("dedicated");
    assertThat(dedLine.path("billable_units").asLong()).isEqualTo(dedTokens);
    assertThat(dedLine.path("overage_units").asLong()).isEqualTo(dedTokens - 300);
    assertThat(new BigDecimal(dedLine.path("fee_usd").asText())).isEqualByComparingTo("150000.00");
    assertThat(new BigDecimal(dedLine.path("total_usd").asText())).isEqualByComparingTo(dedUsd);
    System.out.printf(
        "invoice %s: payg %d tokens -> $%s; dedicated %d tokens -> $%s%n",
        month, paygTokens, paygUsd, dedTokens, dedUsd);

    // Reconciliation: job records (the canceled job's partial work included), metering and the
    // invoice agree on units, plans and amounts, once metering's last commit is in.
    JsonNode rec = getAdmin("/v1/admin/reconciliation?month=" + month);
    long recEnd = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (!rec.path("matches").asBoolean() && System.nanoTime() < recEnd) {
      Thread.sleep(250);
      rec = getAdmin("/v1/admin/reconciliation?month=" + month);
    }
    assertThat(rec.path("matches").asBoolean()).as(rec.toString()).isTrue();
    // The account's own usage report, and the CSV form of the invoice.
    JsonNode own =
        get(
            "/v1/usage?from="
                + month
                + "-01&to="
                + java.time.LocalDate.now(java.time.ZoneOffset.UTC)
                + "&granularity=month",
            paygKey);
    assertThat(own.path("data").get(0).path("billable_tokens").asLong()).isEqualTo(paygTokens);
    HttpResponse<String> csv =
        HTTP.send(
            HttpRequest.newBuilder(
                    URI.create(
                        "http://localhost:"
                            + api.getLocalPort()
                            + "/v1/admin/invoices?month="
                            + month
                            + "&format=csv"))
                .header("X-API-Key", ADMIN)
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(csv.headers().firstValue("Content-Type").orElse("")).startsWith("text/csv");
    assertThat(csv.body())
        .startsWith("account_id,month,product,plan,fee_usd,")
        .contains("\r\n" + dedAccount + ",");
  }

  private static JsonNode line(JsonNode invoice, String account) {
    for (JsonNode l : invoice.path("lines")) {
      if (l.path("account_id").asText().equals(account)
          && l.path("product").asText().equals("text")) {
        return l;
      }
    }
    return null;
  }

  private static JsonNode getAdmin(String path) throws Exception {
    return get(path, ADMIN);
  }

  private static String accountOf(String key) throws Exception {
    // Every key can create a job; the job's usage event names the account. Simpler: the key list
    // has no account id, so ask the admin plan endpoint after finding it in the jobs table.
    String id =
        post("/v1/jobs", "{\"type\":\"text\",\"input\":{\"prompt\":\"x\",\"max_tokens\":1}}", key)
            .path("id")
            .asText();
    awaitTerminal(id, key);
    try (var c =
            java.sql.DriverManager.getConnection(
                api.getConfiguration().database.getUrl(), "postgres", "");
        var s = c.prepareStatement("SELECT account_id FROM jobs WHERE id = ?")) {
      s.setString(1, id);
      try (var rs = s.executeQuery()) {
        rs.next();
        return rs.getString(1);
      }
    }
  }

  private static HttpResponse<String> postRaw(String body, String key) throws Exception {
    return HTTP.send(
        HttpRequest.newBuilder(URI.create("http://localhost:" + api.getLocalPort() + "/v1/jobs"))
            .header("Content-Type", "application/json")
            .header("Authorization", "Bearer " + key)
            .POST(HttpRequest.BodyPublishers.ofString(body))
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private static JsonNode post(String path, String body, String key) throws Exception {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(URI.create("http://localhost:" + api.getLocalPort() + path))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body));
    if (key != null) {
      b.header("Authorization", "Bearer " + key);
    }
    HttpResponse<String> r = HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).as(r.body()).isIn(201, 202);
    return JSON.readTree(r.body());
  }

  private static JsonNode awaitTerminal(String id, String key) throws Exception {
    long end = System.nanoTime() + Duration.ofSeconds(120).toNanos();
    JsonNode last = null;
    while (System.nanoTime() < end) {
      HttpResponse<String> r =
          HTTP.send(
              HttpRequest.newBuilder(
                      URI.create("http://localhost:" + api.getLocalPort() + "/v1/jobs/" + id))
                  .header("X-API-Key", key)
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      last = JSON.readTree(r.body());
      String status = last.path("status").asText();
      if (status.equals("succeeded") || status.equals("failed") || status.equals("canceled")) {
        return last;
      }
      Thread.sleep(100);
    }
    throw new AssertionError("job " + id + " did not finish: " + last);
  }

  private static UsageRollup awaitRollup(String accountId) {
    Properties p = new Properties();
    p.put("bootstrap.servers", SharedPlatform.kafka().bootstrapServers());
    p.put("group.id", "e2e-" + UUID.randomUUID());
    p.put("auto.offset.reset", "earliest");
    p.put("isolation.level", "read_committed");
    UsageRollup latest = null;
    try (var c = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer())) {
      c.subscribe(List.of(Topics.USAGE_ROLLUPS.name()));
      long end = System.nanoTime() + Duration.ofSeconds(60).toNanos();
      long settle = Long.MAX_VALUE;
      while (System.nanoTime() < Math.min(end, settle)) {
        for (var r : c.poll(Duration.ofMillis(200))) {
          if (r.key().startsWith(accountId + "|")) {
            latest = Topics.USAGE_ROLLUPS.deserializeValue(r.value());
            settle = Math.min(settle, System.nanoTime() + Duration.ofSeconds(2).toNanos());
          }
        }
      }
    }
    assertThat(latest).as("rollup for " + accountId).isNotNull();
    return latest;
  }
}
