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
import com.kosmosx.worker.WorkerApplication;
import com.kosmosx.worker.WorkerConfiguration;
import io.dropwizard.testing.ConfigOverride;
import io.dropwizard.testing.DropwizardTestSupport;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
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
  private static DropwizardTestSupport<ApiConfiguration> api;
  private static DropwizardTestSupport<WorkerConfiguration> worker;
  private static DropwizardTestSupport<MeteringConfiguration> metering;

  // Each app reads its overrides from system properties under its own prefix; with the default
  // prefix, one app's overrides would leak into the next app's configuration.

  @BeforeAll
  static void start() throws Exception {
    String kafka = SharedPlatform.kafka().bootstrapServers();
    String quiet = "WARN";
    api =
        new DropwizardTestSupport<>(
            ApiApplication.class,
            "../api-service/config.yml",
            "api",
            ConfigOverride.config("api", "server.applicationConnectors[0].port", "0"),
            ConfigOverride.config("api", "server.adminConnectors[0].port", "0"),
            ConfigOverride.config("api", "database.url", SharedPlatform.freshDatabase("e2e")),
            ConfigOverride.config("api", "kafka.bootstrapServers", kafka),
            ConfigOverride.config("api", "auth.bcryptCost", "4"),
            ConfigOverride.config("api", "logging.level", quiet));
    worker =
        new DropwizardTestSupport<>(
            WorkerApplication.class,
            "../inference-worker/config.yml",
            "worker",
            ConfigOverride.config("worker", "server.adminConnectors[0].port", "0"),
            ConfigOverride.config("worker", "kafkaBootstrap", kafka),
            ConfigOverride.config("worker", "model.path", "../model/tiny-kosmos"),
            ConfigOverride.config("worker", "logging.level", quiet));
    metering =
        new DropwizardTestSupport<>(
            MeteringApplication.class,
            "../metering-stream/config.yml",
            "metering",
            ConfigOverride.config("metering", "server.adminConnectors[0].port", "0"),
            ConfigOverride.config("metering", "kafkaBootstrap", kafka),
            ConfigOverride.config("metering", "applicationId", "metering-e2e-" + UUID.randomUUID()),
            ConfigOverride.config(
                "metering", "stateDir", Files.createTempDirectory("metering-e2e").toString()),
            ConfigOverride.config("metering", "commitInterval", "100ms"),
            ConfigOverride.config("metering", "logging.level", quiet));
    api.before();
    worker.before();
    metering.before();
  }

  @AfterAll
  static void stop() {
    metering.after();
    worker.after();
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

    // Given the broker is stopped for 30 s
    kafka.stop();
    long down = System.nanoTime();
    try {
      // When jobs are submitted during the outage, they are all accepted
      while (System.nanoTime() - down < Duration.ofSeconds(30).toNanos()) {
        if (ids.size() < 6) {
          JsonNode job =
              post(
                  "/v1/jobs",
                  "{\"type\":\"text\",\"input\":{\"prompt\":\"The weather today\",\"max_tokens\":8}}",
                  key);
          assertThat(job.path("status").asText()).isEqualTo("queued");
          ids.add(job.path("id").asText());
        }
        Thread.sleep(4_000);
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
