package com.kosmosx.localstack;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.kosmosx.api.ApiApplication;
import com.kosmosx.api.ApiConfiguration;
import com.kosmosx.platform.SharedPlatform;
import com.kosmosx.platform.SseClient;
import com.kosmosx.worker.WorkerApplication;
import com.kosmosx.worker.WorkerConfiguration;
import io.dropwizard.testing.ConfigOverride;
import io.dropwizard.testing.DropwizardTestSupport;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Token streaming on the real stack: two API instances on one database, the worker running the
 * shipped Kosmos-2 through DJL, the real broker in between. What a streaming client reads is what
 * the job's record says, arriving piece by piece as the model produces it; the instance that did
 * not take a job streams it as well as the one that did; a client that leaves stops its generation,
 * which is billed for the tokens produced.
 */
class StreamingIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final HttpClient HTTP = HttpClient.newHttpClient();
  private static final String ADMIN = "kx_live_stream_bootstrap_admin_key_0123456789abcd";
  private static DropwizardTestSupport<ApiConfiguration> a;
  private static DropwizardTestSupport<ApiConfiguration> b;
  private static DropwizardTestSupport<WorkerConfiguration> worker;
  private static String key;

  private static DropwizardTestSupport<ApiConfiguration> api(String prefix, String db) {
    return new DropwizardTestSupport<>(
        ApiApplication.class,
        "../api-service/config.yml",
        prefix,
        ConfigOverride.config(prefix, "server.applicationConnectors[0].port", "0"),
        ConfigOverride.config(prefix, "server.adminConnectors[0].port", "0"),
        ConfigOverride.config(prefix, "database.url", db),
        ConfigOverride.config(
            prefix, "kafka.bootstrapServers", SharedPlatform.kafka().bootstrapServers()),
        ConfigOverride.config(prefix, "auth.bcryptCost", "4"),
        ConfigOverride.config(prefix, "auth.bootstrapAdminKey", ADMIN),
        ConfigOverride.config(prefix, "jobs.tokenizer", "../model/tiny-kosmos/tokenizer.json"),
        ConfigOverride.config(prefix, "logging.level", "WARN"));
  }

  @BeforeAll
  static void start() throws Exception {
    String db = SharedPlatform.freshDatabase("streaming");
    a = api("apia", db);
    b = api("apib", db);
    worker =
        new DropwizardTestSupport<>(
            WorkerApplication.class,
            "../inference-worker/config.yml",
            "sworker",
            ConfigOverride.config("sworker", "server.adminConnectors[0].port", "0"),
            ConfigOverride.config(
                "sworker", "kafkaBootstrap", SharedPlatform.kafka().bootstrapServers()),
            ConfigOverride.config("sworker", "model.path", "../model/tiny-kosmos"),
            ConfigOverride.config("sworker", "logging.level", "WARN"));
    a.before();
    b.before();
    worker.before();
    HttpResponse<String> r =
        send(
            a,
            "POST",
            "/v1/accounts",
            "{\"username\":\"streamer\",\"email\":\"s@example.com\",\"password\":\"correct horse"
                + " battery\"}");
    key = JSON.readTree(r.body()).path("api_key").path("key").asText();
  }

  @AfterAll
  static void stop() {
    worker.after();
    b.after();
    a.after();
  }

  private static String url(DropwizardTestSupport<?> app) {
    return "http://localhost:" + app.getLocalPort();
  }

  private static HttpResponse<String> send(
      DropwizardTestSupport<?> app, String method, String path, String body) throws Exception {
    HttpRequest.Builder rb =
        HttpRequest.newBuilder(URI.create(url(app) + path))
            .timeout(Duration.ofSeconds(60))
            .header("Content-Type", "application/json");
    if (key != null) {
      rb.header("Authorization", "Bearer " + key);
    }
    rb.method(
        method,
        body == null
            ? HttpRequest.BodyPublishers.noBody()
            : HttpRequest.BodyPublishers.ofString(body));
    return HTTP.send(rb.build(), HttpResponse.BodyHandlers.ofString());
  }

  private static JsonNode job(String id) throws Exception {
    return JSON.readTree(send(a, "GET", "/v1/jobs/" + id, null).body());
  }

  private static JsonNode awaitEnd(String id) throws Exception {
    for (int i = 0; i < 600; i++) {
      JsonNode j = job(id);
      String s = j.path("status").asText();
      if (!s.equals("queued") && !s.equals("running")) {
        return j;
      }
      Thread.sleep(50);
    }
    throw new AssertionError("job " + id + " did not end");
  }

  @Test
  void aChatStreamDeliversTheJobsTextInPiecesThenTheUsageAndDone() throws Exception {
    String body =
        "{\"model\":\"kosmos-2\",\"messages\":[{\"role\":\"system\",\"content\":\"Tell stories.\"},"
            + "{\"role\":\"user\",\"content\":\"Once upon a time\"}],\"max_tokens\":40,"
            + "\"temperature\":1.5,\"seed\":11,\"stream\":true,"
            + "\"stream_options\":{\"include_usage\":true}}";
    List<SseClient.Event> events;
    String id;
    try (SseClient s =
        SseClient.open(
            "POST", url(a) + "/v1/chat/completions", body, "Authorization", "Bearer " + key)) {
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
      if (choice.path("delta").hasNonNull("content")
          && !choice.path("delta").path("content").asText().isEmpty()) {
        text.append(choice.path("delta").path("content").asText());
        contentChunks++;
      }
      if (!choice.path("finish_reason").isNull()) {
        finish = choice.path("finish_reason").asText();
      }
    }
    JsonNode done = awaitEnd(id);
    assertThat(done.path("status").asText()).isEqualTo("succeeded");
    assertThat(text.toString()).isEqualTo(done.path("output").path("text").asText());
    assertThat(contentChunks).as("streamed token by token").isGreaterThan(3);
    assertThat(finish).isIn("stop", "length");
    assertThat(usage.path("completion_tokens").asInt())
        .isEqualTo(done.path("usage").path("output_tokens").asInt());
    assertThat(usage.path("prompt_tokens").asInt())
        .isEqualTo(done.path("usage").path("input_tokens").asInt());
    // A non-streaming completion on the other instance: the same pipeline, one answer.
    HttpResponse<String> plain =
        send(
            b,
            "POST",
            "/v1/completions",
            "{\"model\":\"kosmos-2\",\"prompt\":\"Once upon a time\",\"max_tokens\":12}");
    assertThat(plain.statusCode()).as(plain.body()).isEqualTo(200);
    JsonNode completion = JSON.readTree(plain.body());
    String plainId = completion.path("id").asText();
    assertThat(completion.path("choices").get(0).path("text").asText())
        .isEqualTo(job(plainId).path("output").path("text").asText())
        .isNotEmpty();
    assertThat(send(a, "GET", "/v1/jobs?limit=5", null).body()).contains(plainId, id);
  }

  @Test
  void theInstanceThatDidNotTakeTheJobStreamsItsEvents() throws Exception {
    JsonNode submitted =
        JSON.readTree(
            send(
                    a,
                    "POST",
                    "/v1/jobs",
                    "{\"type\":\"text\",\"input\":{\"prompt\":\"Once upon a time\",\"max_tokens\":48,"
                        + "\"temperature\":1.5,\"seed\":5,\"stream\":true}}")
                .body());
    String id = submitted.path("id").asText();
    List<SseClient.Event> events;
    try (SseClient s =
        SseClient.open(
            "GET", url(b) + "/v1/jobs/" + id + "/events", null, "Authorization", "Bearer " + key)) {
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
  void aStreamingClientThatLeavesStopsItsGenerationAndPaysForWhatWasMade() throws Exception {
    int maxTokens = 19_000;
    String body =
        "{\"model\":\"kosmos-2\",\"prompt\":\"Once upon a time\",\"max_tokens\":"
            + maxTokens
            + ",\"ignore_eos\":true,\"stream\":true}";
    String id;
    try (SseClient s =
        SseClient.open(
            "POST", url(a) + "/v1/completions", body, "Authorization", "Bearer " + key)) {
      id = s.response.headers().firstValue("x-kosmos-job-id").orElseThrow();
      for (int i = 0; i < 3; i++) {
        assertThat(s.next()).isNotNull();
      }
    } // the client leaves after three pieces
    JsonNode end = awaitEnd(id);
    assertThat(end.path("status").asText()).as(end.toString()).isEqualTo("canceled");
    int made = end.path("usage").path("output_tokens").asInt();
    assertThat(made).isGreaterThan(0).isLessThan(maxTokens);
    // Billed as any job canceled while it ran: its prompt and the tokens made, 100 at least.
    assertThat(end.path("usage").path("billable_tokens").asLong())
        .isEqualTo(Math.max(100, end.path("usage").path("input_tokens").asInt() + made));
    assertThat(end.path("usage").path("cost_usd").asText()).isNotEmpty();
  }
}
