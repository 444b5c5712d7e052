package com.kosmosx.api.openai;

import static com.kosmosx.api.ApiTestApp.setting;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.kosmosx.api.ApiTestApp;
import com.kosmosx.contracts.JobEvent;
import com.kosmosx.contracts.StreamDelta;
import com.kosmosx.contracts.Topics;
import com.kosmosx.platform.SharedPlatform;
import com.kosmosx.platform.SseClient;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The OpenAI-compatible routes and token streams of two API instances on the real database and
 * broker. The worker is played by publishing to the real topics what a worker publishes (deltas on
 * the job-stream topic, job events on the job-events topic), so the shapes, the ordering, the error
 * paths and the handover between instances are checked exactly; {@code StreamingIT} in local-stack
 * runs the same routes against the real worker and model.
 */
class OpenAiRoutesIT {
  private static ApiTestApp a;
  private static ApiTestApp b;
  private static KafkaProducer<String, byte[]> kafka;
  private static String jdbcUrl;

  @BeforeAll
  static void start() throws Exception {
    jdbcUrl = SharedPlatform.freshDatabase("openai_it");
    a = new ApiTestApp("config.yml", jdbcUrl, setting("openai.maxWait", "20s")).start();
    b = new ApiTestApp("config.yml", jdbcUrl, setting("openai.maxStreamsPerAccount", "2")).start();
    Properties p = new Properties();
    p.put("bootstrap.servers", SharedPlatform.kafka().bootstrapServers());
    kafka = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
  }

  @AfterAll
  static void stop() {
    kafka.close();
    b.close();
    a.close();
  }

  private static String key() throws Exception {
    return a.newAccountKey("oai" + UUID.randomUUID().toString().substring(0, 8));
  }

  private static void event(JobEvent e) throws Exception {
    kafka
        .send(
            new ProducerRecord<>(
                Topics.JOB_EVENTS.name(), e.jobId(), Topics.JOB_EVENTS.serializeValue(e)))
        .get();
  }

  private static void delta(StreamDelta d) throws Exception {
    kafka
        .send(
            new ProducerRecord<>(
                Topics.JOB_STREAM.name(), d.jobId(), Topics.JOB_STREAM.serializeValue(d)))
        .get();
  }

  private static void succeed(String jobId, String text, int in, int out, String finish)
      throws Exception {
    event(
        JobEvent.succeeded(
            jobId,
            "acc",
            Instant.now(),
            "test-worker",
            new JobEvent.Output(text, List.of(), finish),
            new JobEvent.Usage(in, out, 0)));
  }

  private static String chat(String extra) {
    return "{\"model\":\"kosmos-2\",\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a"
        + " story\"}]"
        + extra
        + "}";
  }

  private static JsonNode chunk(SseClient.Event e) throws Exception {
    return ApiTestApp.JSON.readTree(e.data()).path("choices").get(0);
  }

  private static JsonNode error(HttpResponse<String> r) throws Exception {
    assertThat(r.headers().firstValue("Content-Type").orElse("")).startsWith("application/json");
    JsonNode e = ApiTestApp.json(r).path("error");
    assertThat(e.has("message") && e.has("type") && e.has("param") && e.has("code"))
        .as(r.body())
        .isTrue();
    return e;
  }

  /** Waits until the streams of both instances read the job-stream topic. */
  private static void awaitNewestJob(String key, String[] id) throws Exception {
    for (int i = 0; i < 400 && id[0] == null; i++) {
      JsonNode data = ApiTestApp.json(a.get("/v1/jobs?limit=1", "Authorization", "Bearer " + key));
      if (data.path("data").size() > 0) {
        id[0] = data.path("data").get(0).path("id").asText();
      } else {
        Thread.sleep(25);
      }
    }
    assertThat(id[0]).isNotNull();
  }

  @Test
  void modelsListTheServedModelWithItsContextLimit() throws Exception {
    String key = key();
    HttpResponse<String> r = a.get("/v1/models", "Authorization", "Bearer " + key);
    assertThat(r.statusCode()).isEqualTo(200);
    JsonNode m = ApiTestApp.json(r).path("data").get(0);
    assertThat(ApiTestApp.json(r).path("object").asText()).isEqualTo("list");
    assertThat(m.path("id").asText()).isEqualTo("kosmos-2");
    assertThat(m.path("object").asText()).isEqualTo("model");
    assertThat(m.path("max_model_len").asInt()).isEqualTo(20000);
    assertThat(r.headers().firstValue("x-request-id")).isPresent();
    assertThat(a.get("/v1/models/kosmos-2", "Authorization", "Bearer " + key).statusCode())
        .isEqualTo(200);
    HttpResponse<String> missing = a.get("/v1/models/gpt-4o", "Authorization", "Bearer " + key);
    assertThat(missing.statusCode()).isEqualTo(404);
    assertThat(error(missing).path("code").asText()).isEqualTo("model_not_found");
    // No key: OpenAI's shape on these routes, problem+json elsewhere.
    HttpResponse<String> anonymous = a.get("/v1/models");
    assertThat(anonymous.statusCode()).isEqualTo(401);
    assertThat(error(anonymous).path("type").asText()).isEqualTo("authentication_error");
    // A client's request id comes back; a hostile one is replaced.
    assertThat(
            a.get("/v1/models", "Authorization", "Bearer " + key, "X-Request-Id", "trace-42")
                .headers()
                .firstValue("x-request-id"))
        .hasValue("trace-42");
    assertThat(
            a.get("/v1/models", "Authorization", "Bearer " + key, "X-Request-Id", "a b\u00e9")
                .headers()
                .firstValue("x-request-id")
                .orElseThrow())
        .startsWith("req_");
  }

  @Test
  void everyUnsupportedFieldIsA400NamingItAndNullsAreAbsent() throws Exception {
    String key = key();
    String[][] refused = {
      {",\"n\":2", "n"},
      {",\"logprobs\":true", "logprobs"},
      {",\"top_logprobs\":3", "top_logprobs"},
      {",\"tools\":[{\"type\":\"function\"}]", "tools"},
      {",\"tool_choice\":\"auto\"", "tool_choice"},
      {",\"frobnicate\":1", "frobnicate"},
      {",\"presence_penalty\":0.5", "presence_penalty"},
      {",\"response_format\":{\"type\":\"json_object\"}", "response_format"},
      {",\"stream_options\":{\"include_usage\":true}", "stream_options"},
      {",\"temperature\":\"hot\"", "temperature"},
      {",\"temperature\":7", "temperature"},
      {",\"max_tokens\":0", "max_tokens"},
      {",\"stop\":[1]", "stop"},
      {",\"detect_objects\":true", "detect_objects"},
    };
    for (String[] c : refused) {
      HttpResponse<String> r =
          a.postJson("/v1/chat/completions", chat(c[0]), "Authorization", "Bearer " + key);
      assertThat(r.statusCode()).as(c[0] + " " + r.body()).isEqualTo(400);
      JsonNode e = error(r);
      assertThat(e.path("param").asText()).as(c[0]).isEqualTo(c[1]);
      assertThat(e.path("type").asText()).isEqualTo("invalid_request_error");
    }
    HttpResponse<String> tool =
        a.postJson(
            "/v1/chat/completions",
            "{\"model\":\"kosmos-2\",\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}",
            "Authorization",
            "Bearer " + key);
    assertThat(error(tool).path("param").asText()).isEqualTo("messages[0].role");
    HttpResponse<String> wrongModel =
        a.postJson(
            "/v1/chat/completions",
            chat("").replace("kosmos-2", "gpt-4o"),
            "Authorization",
            "Bearer " + key);
    assertThat(wrongModel.statusCode()).isEqualTo(404);
    HttpResponse<String> notJson =
        a.postJson("/v1/chat/completions", "{\"model\":", "Authorization", "Bearer " + key);
    assertThat(notJson.statusCode()).isEqualTo(400);
    error(notJson);
    // An oversized prompt: context_length_exceeded, on the messages.
    String big = "word ".repeat(25_000);
    HttpResponse<String> tooLong =
        a.postJson(
            "/v1/completions",
            "{\"model\":\"kosmos-2\",\"prompt\":\"" + big + "\"}",
            "Authorization",
            "Bearer " + key);
    assertThat(tooLong.statusCode()).isEqualTo(400);
    assertThat(error(tooLong).path("code").asText()).isEqualTo("context_length_exceeded");
    assertThat(error(tooLong).path("param").asText()).isEqualTo("prompt");
    // What clients send as defaults is accepted: explicit nulls and neutral values.
    String defaults =
        chat(
            ",\"n\":1,\"logprobs\":false,\"top_logprobs\":null,\"tools\":null,"
                + "\"presence_penalty\":0,\"frequency_penalty\":0,\"logit_bias\":{},"
                + "\"stream\":false,\"stop\":null,\"seed\":7,\"user\":\"u-1\","
                + "\"response_format\":{\"type\":\"text\"},\"max_completion_tokens\":3");
    CompletableFuture<HttpResponse<String>> call =
        CompletableFuture.supplyAsync(
            () -> {
              try {
                return a.postJson(
                    "/v1/chat/completions", defaults, "Authorization", "Bearer " + key);
              } catch (Exception e) {
                throw new RuntimeException(e);
              }
            });
    String[] id = new String[1];
    awaitNewestJob(key, id);
    JsonNode job = ApiTestApp.json(a.get("/v1/jobs/" + id[0], "Authorization", "Bearer " + key));
    assertThat(job.path("input").path("prompt").asText()).isEqualTo("Tell me a story");
    assertThat(job.path("input").path("max_tokens").asInt()).isEqualTo(3);
    assertThat(job.path("input").path("seed").asLong()).isEqualTo(7);
    assertThat(job.path("metadata").path("openai_user").asText()).isEqualTo("u-1");
    succeed(id[0], " Once there", 7, 3, "length");
    HttpResponse<String> r = call.get();
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    JsonNode c = ApiTestApp.json(r);
    assertThat(c.path("id").asText()).isEqualTo(id[0]);
    assertThat(c.path("object").asText()).isEqualTo("chat.completion");
    assertThat(c.path("model").asText()).isEqualTo("kosmos-2");
    JsonNode choice = c.path("choices").get(0);
    assertThat(choice.path("message").path("role").asText()).isEqualTo("assistant");
    assertThat(choice.path("message").path("content").asText()).isEqualTo(" Once there");
    assertThat(choice.path("finish_reason").asText()).isEqualTo("length");
    assertThat(choice.has("logprobs") && choice.get("logprobs").isNull()).isTrue();
    assertThat(c.path("usage").path("prompt_tokens").asInt()).isEqualTo(7);
    assertThat(c.path("usage").path("completion_tokens").asInt()).isEqualTo(3);
    assertThat(c.path("usage").path("total_tokens").asInt()).isEqualTo(10);
    assertThat(r.headers().firstValue("x-ratelimit-remaining-requests")).isPresent();
  }

  @Test
  void aChatStreamIsTheRoleTheDeltasInOrderTheFinishTheUsageAndDone() throws Exception {
    String key = key();
    try (SseClient s =
        SseClient.open(
            "POST",
            a.baseUrl() + "/v1/chat/completions",
            chat(",\"stream\":true,\"stream_options\":{\"include_usage\":true},\"stop\":\"END\""),
            "Authorization",
            "Bearer " + key)) {
      assertThat(s.response.statusCode()).isEqualTo(200);
      assertThat(s.response.headers().firstValue("Content-Type").orElse(""))
          .startsWith("text/event-stream");
      String id = s.response.headers().firstValue("x-kosmos-job-id").orElseThrow();
      JsonNode role = ApiTestApp.JSON.readTree(s.next().data());
      assertThat(role.path("object").asText()).isEqualTo("chat.completion.chunk");
      assertThat(role.path("id").asText()).isEqualTo(id);
      assertThat(role.path("choices").get(0).path("delta").path("role").asText())
          .isEqualTo("assistant");
      assertThat(role.has("usage") && role.get("usage").isNull()).isTrue();
      JsonNode input =
          ApiTestApp.json(a.get("/v1/jobs/" + id, "Authorization", "Bearer " + key)).path("input");
      assertThat(input.path("stream").asBoolean()).isTrue();
      delta(StreamDelta.started(id, Instant.now()));
      delta(StreamDelta.text(id, 0, " Once", Instant.now(), 12.5));
      JsonNode first = ApiTestApp.JSON.readTree(s.next().data());
      assertThat(first.path("choices").get(0).path("delta").path("content").asText())
          .isEqualTo(" Once");
      // Repeated and overlapping deltas (a retried send) are absorbed, in order.
      delta(StreamDelta.text(id, 0, " Once", Instant.now(), null));
      delta(StreamDelta.text(id, 3, "ce upon", Instant.now(), null));
      JsonNode second = ApiTestApp.JSON.readTree(s.next().data());
      assertThat(second.path("choices").get(0).path("delta").path("content").asText())
          .isEqualTo(" upon");
      // The worker held back " a tim" (a stop sequence might have cut it); the end brings it.
      succeed(id, " Once upon a tim", 6, 5, "stop");
      List<SseClient.Event> rest = s.rest();
      StringBuilder text = new StringBuilder(" Once upon");
      int i = 0;
      while (chunk(rest.get(i)).path("finish_reason").isNull()) {
        text.append(chunk(rest.get(i)).path("delta").path("content").asText());
        i++;
      }
      assertThat(text.toString()).isEqualTo(" Once upon a tim");
      JsonNode finish = ApiTestApp.JSON.readTree(rest.get(i).data());
      assertThat(finish.path("choices").get(0).path("finish_reason").asText()).isEqualTo("stop");
      JsonNode usage = ApiTestApp.JSON.readTree(rest.get(i + 1).data());
      assertThat(usage.path("choices")).isEmpty();
      assertThat(usage.path("usage").path("total_tokens").asInt()).isEqualTo(11);
      assertThat(rest.get(i + 2).data()).isEqualTo("[DONE]");
      assertThat(rest).hasSize(i + 3);
    }
  }

  @Test
  void aClientThatNeverReadsHoldsBackNoOtherStream() throws Exception {
    String key = key();
    String body = "{\"model\":\"kosmos-2\",\"prompt\":\"Hi\",\"stream\":true}";
    // A raw client that sends its request and then never reads a byte.
    java.net.URI api = java.net.URI.create(a.baseUrl());
    try (java.net.Socket stuck = new java.net.Socket(api.getHost(), api.getPort())) {
      stuck.setReceiveBufferSize(4096);
      String request =
          "POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer "
              + key
              + "\r\nContent-Type: application/json\r\nContent-Length: "
              + body.length()
              + "\r\n\r\n"
              + body;
      stuck.getOutputStream().write(request.getBytes(java.nio.charset.StandardCharsets.UTF_8));
      stuck.getOutputStream().flush();
      String[] stuckId = new String[1];
      awaitNewestJob(key, stuckId);
      // Megabytes of text for it: its TCP buffers fill and its writer blocks.
      String piece = "x".repeat(8192);
      for (int i = 0; i < 256; i++) {
        delta(StreamDelta.text(stuckId[0], i * piece.length(), piece, Instant.now(), null));
      }
      // Meanwhile another stream of the same account reads its text and its end.
      try (SseClient s =
          SseClient.open(
              "POST", a.baseUrl() + "/v1/completions", body, "Authorization", "Bearer " + key)) {
        String id = s.response.headers().firstValue("x-kosmos-job-id").orElseThrow();
        delta(StreamDelta.text(id, 0, " fine", Instant.now(), 1.0));
        succeed(id, " fine, thanks", 2, 3, "stop");
        StringBuilder text = new StringBuilder();
        List<SseClient.Event> rest = s.rest();
        for (SseClient.Event e : rest) {
          if (!e.data().equals("[DONE]")) {
            text.append(
                ApiTestApp.JSON.readTree(e.data()).path("choices").get(0).path("text").asText());
          }
        }
        assertThat(text.toString()).isEqualTo(" fine, thanks");
        assertThat(rest.get(rest.size() - 1).data()).isEqualTo("[DONE]");
      }
    }
  }

  @Test
  void aJobThatFailsAfterTheStreamStartedEndsItWithAnErrorEvent() throws Exception {
    String key = key();
    try (SseClient s =
        SseClient.open(
            "POST",
            a.baseUrl() + "/v1/completions",
            "{\"model\":\"kosmos-2\",\"prompt\":\"Hi\",\"stream\":true}",
            "Authorization",
            "Bearer " + key)) {
      String id = s.response.headers().firstValue("x-kosmos-job-id").orElseThrow();
      delta(StreamDelta.text(id, 0, " there", Instant.now(), 1.0));
      JsonNode first = ApiTestApp.JSON.readTree(s.next().data());
      assertThat(first.path("object").asText()).isEqualTo("text_completion");
      assertThat(first.path("choices").get(0).path("text").asText()).isEqualTo(" there");
      event(
          JobEvent.failed(
              id,
              "acc",
              Instant.now(),
              "w",
              new JobEvent.Error("model_error", "The model failed on this input.")));
      List<SseClient.Event> rest = s.rest();
      JsonNode err = ApiTestApp.JSON.readTree(rest.get(0).data()).path("error");
      assertThat(err.path("code").asText()).isEqualTo("model_error");
      assertThat(err.path("type").asText()).isEqualTo("server_error");
      assertThat(rest.get(1).data()).isEqualTo("[DONE]");
    }
  }

  @Test
  void aStreamingClientThatGoesAwayCancelsItsJob() throws Exception {
    String key = key();
    String id;
    try (SseClient s =
        SseClient.open(
            "POST",
            a.baseUrl() + "/v1/chat/completions",
            chat(",\"stream\":true"),
            "Authorization",
            "Bearer " + key)) {
      id = s.response.headers().firstValue("x-kosmos-job-id").orElseThrow();
      s.next(); // the role
      delta(StreamDelta.text(id, 0, " Once", Instant.now(), 1.0));
      s.next();
    } // closed: the client is gone
    // The next delta or keep-alive finds the connection closed and cancels the job.
    for (int i = 1; i < 300 && !cancelRequested(id); i++) {
      delta(StreamDelta.text(id, 5 * i, " more", Instant.now(), null));
      Thread.sleep(100);
    }
    assertThat(cancelRequested(id)).isTrue();
  }

  private static boolean cancelRequested(String id) throws Exception {
    try (Connection c = DriverManager.getConnection(jdbcUrl, "postgres", "");
        ResultSet rs =
            c.createStatement()
                .executeQuery("SELECT cancel_requested_at FROM jobs WHERE id = '" + id + "'")) {
      return rs.next() && rs.getTimestamp(1) != null;
    }
  }

  @Test
  void anotherInstanceStreamsTheJobsEventsAndResumesAfterLastEventId() throws Exception {
    String key = key();
    JsonNode job =
        ApiTestApp.json(
            a.postJson(
                "/v1/jobs",
                "{\"type\":\"text\",\"input\":{\"prompt\":\"Hello\",\"max_tokens\":9,"
                    + "\"stream\":true}}",
                "Authorization",
                "Bearer " + key));
    String id = job.path("id").asText();
    List<SseClient.Event> seen = new ArrayList<>();
    try (SseClient s =
        SseClient.open(
            "GET",
            b.baseUrl() + "/v1/jobs/" + id + "/events",
            null,
            "Authorization",
            "Bearer " + key)) {
      assertThat(s.response.statusCode()).isEqualTo(200);
      delta(StreamDelta.started(id, Instant.now()));
      SseClient.Event started = s.next();
      assertThat(started.event()).isEqualTo("started");
      delta(StreamDelta.text(id, 0, " Hi", Instant.now(), 2.0));
      SseClient.Event d = s.next();
      assertThat(d.event()).isEqualTo("delta");
      assertThat(d.id()).isEqualTo("3");
      assertThat(ApiTestApp.JSON.readTree(d.data()).path("text").asText()).isEqualTo(" Hi");
      seen.add(d);
    }
    // Reconnect (as EventSource does) on instance A, after event "3": only what is new.
    delta(StreamDelta.text(id, 3, " there", Instant.now(), null));
    succeed(id, " Hi there!", 2, 3, "stop");
    try (SseClient s =
        SseClient.open(
            "GET",
            a.baseUrl() + "/v1/jobs/" + id + "/events",
            null,
            "Authorization",
            "Bearer " + key,
            "Last-Event-ID",
            "3")) {
      List<SseClient.Event> rest = s.rest();
      assertThat(rest.get(0).event()).isEqualTo("delta");
      assertThat(ApiTestApp.JSON.readTree(rest.get(0).data()).path("offset").asInt()).isEqualTo(3);
      StringBuilder text = new StringBuilder(" Hi");
      int i = 0;
      while (rest.get(i).event().equals("delta")) {
        text.append(ApiTestApp.JSON.readTree(rest.get(i).data()).path("text").asText());
        i++;
      }
      assertThat(text.toString()).isEqualTo(" Hi there!");
      assertThat(rest.get(i).event()).isEqualTo("completed");
      assertThat(rest.get(i).id()).isEqualTo("end");
      assertThat(ApiTestApp.JSON.readTree(rest.get(i).data()).path("status").asText())
          .isEqualTo("succeeded");
    }
    // After the end, a reconnecting EventSource is told to stop; another account sees nothing.
    assertThat(
            b.get(
                    "/v1/jobs/" + id + "/events",
                    "Authorization",
                    "Bearer " + key,
                    "Last-Event-ID",
                    "end")
                .statusCode())
        .isEqualTo(204);
    assertThat(b.get("/v1/jobs/" + id + "/events", "Authorization", "Bearer " + key()).statusCode())
        .isEqualTo(404);
  }

  @Test
  void streamsAreBoundedPerAccountAndARefusedStreamSubmitsNothing() throws Exception {
    String key = key();
    String id =
        ApiTestApp.json(
                b.postJson(
                    "/v1/jobs",
                    "{\"type\":\"text\",\"input\":{\"prompt\":\"Hello\",\"max_tokens\":3}}",
                    "Authorization",
                    "Bearer " + key))
            .path("id")
            .asText();
    // A stream refused at submit (too long a prompt) gives its place back: were it kept, the
    // second stream below would be refused.
    for (int i = 0; i < 1; i++) {
      HttpResponse<String> tooLong =
          b.postJson(
              "/v1/completions",
              "{\"model\":\"kosmos-2\",\"stream\":true,\"prompt\":\""
                  + "word ".repeat(25_000)
                  + "\"}",
              "Authorization",
              "Bearer " + key);
      assertThat(error(tooLong).path("code").asText()).isEqualTo("context_length_exceeded");
    }
    String events = b.baseUrl() + "/v1/jobs/" + id + "/events";
    SseClient one = SseClient.open("GET", events, null, "Authorization", "Bearer " + key);
    try (SseClient two = SseClient.open("GET", events, null, "Authorization", "Bearer " + key)) {
      assertThat(one.response.statusCode()).isEqualTo(200);
      assertThat(two.response.statusCode()).isEqualTo(200);
      HttpResponse<String> third =
          b.get("/v1/jobs/" + id + "/events", "Authorization", "Bearer " + key);
      assertThat(third.statusCode()).isEqualTo(429);
      assertThat(ApiTestApp.json(third).path("code").asText()).isEqualTo("too_many_streams");
      HttpResponse<String> chat =
          b.postJson(
              "/v1/chat/completions", chat(",\"stream\":true"), "Authorization", "Bearer " + key);
      assertThat(chat.statusCode()).isEqualTo(429);
      assertThat(error(chat).path("code").asText()).isEqualTo("too_many_streams");
      assertThat(chat.headers().firstValue("Retry-After")).hasValue("1");
      assertThat(ApiTestApp.json(b.get("/v1/jobs", "Authorization", "Bearer " + key)).path("data"))
          .hasSize(1);
      one.close(); // its writer notices at the next keep-alive and gives its place back
      int status = 0;
      for (int i = 0; i < 300 && status != 200; i++) {
        Thread.sleep(100);
        try (SseClient again =
            SseClient.open("GET", events, null, "Authorization", "Bearer " + key)) {
          status = again.response.statusCode();
        }
      }
      assertThat(status).isEqualTo(200);
    }
  }

  @Test
  void anIdempotentRetryAnswersFromTheSameJob() throws Exception {
    String key = key();
    String idem = "retry-" + UUID.randomUUID();
    String body = "{\"model\":\"kosmos-2\",\"prompt\":\"Once\",\"max_tokens\":4}";
    CompletableFuture<HttpResponse<String>> first =
        CompletableFuture.supplyAsync(
            () -> {
              try {
                return a.postJson(
                    "/v1/completions",
                    body,
                    "Authorization",
                    "Bearer " + key,
                    "Idempotency-Key",
                    idem);
              } catch (Exception e) {
                throw new RuntimeException(e);
              }
            });
    String[] id = new String[1];
    awaitNewestJob(key, id);
    succeed(id[0], " upon", 2, 1, "stop");
    HttpResponse<String> one = first.get();
    HttpResponse<String> two =
        b.postJson(
            "/v1/completions", body, "Authorization", "Bearer " + key, "Idempotency-Key", idem);
    assertThat(one.statusCode()).isEqualTo(200);
    assertThat(two.statusCode()).isEqualTo(200);
    assertThat(ApiTestApp.json(two).path("id").asText()).isEqualTo(id[0]);
    assertThat(ApiTestApp.json(two).path("choices").get(0).path("text").asText())
        .isEqualTo(" upon");
    JsonNode jobs = ApiTestApp.json(a.get("/v1/jobs", "Authorization", "Bearer " + key));
    assertThat(jobs.path("data")).hasSize(1);
  }

  @Test
  void imagesComeAsDataUrlsAndPrivateUrlsAreRefused() throws Exception {
    String key = key();
    String png =
        java.util.Base64.getEncoder()
            .encodeToString(
                java.nio.file.Files.readAllBytes(
                    java.nio.file.Path.of("src/test/resources/pixels/gray-300x200.png")));
    String body =
        "{\"model\":\"kosmos-2\",\"messages\":[{\"role\":\"user\",\"content\":["
            + "{\"type\":\"text\",\"text\":\"What is this?\"},"
            + "{\"type\":\"image_url\",\"image_url\":{\"url\":\"%s\"}}]}],\"stream\":true}";
    try (SseClient s =
        SseClient.open(
            "POST",
            a.baseUrl() + "/v1/chat/completions",
            body.formatted("data:image/png;base64," + png),
            "Authorization",
            "Bearer " + key)) {
      assertThat(s.response.statusCode()).isEqualTo(200);
      String id = s.response.headers().firstValue("x-kosmos-job-id").orElseThrow();
      JsonNode job = ApiTestApp.json(a.get("/v1/jobs/" + id, "Authorization", "Bearer " + key));
      assertThat(job.path("type").asText()).isEqualTo("image");
      assertThat(job.path("input").path("detect_objects").asBoolean()).isTrue();
      event(
          JobEvent.succeeded(
              id,
              "acc",
              Instant.now(),
              "w",
              new JobEvent.Output(
                  "a red square",
                  List.of(
                      new JobEvent.DetectedObject(
                          "a red square", new JobEvent.Box(0.1, 0.2, 0.5, 0.6))),
                  "stop"),
              new JobEvent.Usage(9, 4, 1)));
      List<SseClient.Event> rest = s.rest();
      JsonNode text = ApiTestApp.JSON.readTree(rest.get(1).data());
      assertThat(text.path("choices").get(0).path("delta").path("content").asText())
          .isEqualTo("a red square");
      JsonNode end = ApiTestApp.JSON.readTree(rest.get(2).data()).path("choices").get(0);
      assertThat(end.path("delta").path("objects").get(0).path("label").asText())
          .isEqualTo("a red square");
      assertThat(end.path("delta").path("objects").get(0).path("box").path("x1").asDouble())
          .isEqualTo(0.5);
      assertThat(end.path("finish_reason").asText()).isEqualTo("stop");
    }
    HttpResponse<String> ssrf =
        a.postJson(
            "/v1/chat/completions",
            body.formatted("http://127.0.0.1:" + a.adminPort() + "/healthcheck"),
            "Authorization",
            "Bearer " + key);
    assertThat(ssrf.statusCode()).isEqualTo(400);
    assertThat(error(ssrf).path("code").asText()).isEqualTo("invalid_image_url");
    assertThat(error(ssrf).path("param").asText()).isEqualTo("messages");
  }
}
