package com.kosmosx.api;

import static com.kosmosx.api.ApiTestApp.setting;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.kosmosx.contracts.JobControl;
import com.kosmosx.contracts.JobEvent;
import com.kosmosx.contracts.Topics;
import com.kosmosx.platform.SharedPlatform;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.DriverManager;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
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

/**
 * The API side of the job lifecycle on the real database and broker: idempotency, listing, cancel,
 * {@code Prefer: wait}, retention. The worker is played by publishing job events to the real
 * job-events topic, which the API's projection consumes as it would a worker's.
 */
class JobLifecycleIT {
  private static String jdbcUrl;
  private static ApiTestApp app;
  private static KafkaProducer<String, byte[]> events;

  @BeforeAll
  static void start() throws Exception {
    jdbcUrl = SharedPlatform.freshDatabase("lifecycle_it");
    // Few request threads: 150 waiting requests must not need 150 threads.
    app =
        new ApiTestApp(
                "config.yml",
                jdbcUrl,
                setting("server.maxThreads", "24"),
                setting("server.minThreads", "8"),
                setting("rateLimits.jobSubmissionsPerMinute", "100000"),
                setting("rateLimits.maxUnfinishedJobs", "100000"))
            .start();
    Properties p = new Properties();
    p.put("bootstrap.servers", SharedPlatform.kafka().bootstrapServers());
    events = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
  }

  @AfterAll
  static void stop() {
    events.close();
    app.close();
  }

  private static String unique(String p) {
    return p + UUID.randomUUID().toString().substring(0, 8);
  }

  static void publish(JobEvent e) throws Exception {
    events
        .send(
            new ProducerRecord<>(
                Topics.JOB_EVENTS.name(), e.jobId(), Topics.JOB_EVENTS.serializeValue(e)))
        .get();
  }

  static void succeed(String jobId) throws Exception {
    publish(JobEvent.started(jobId, "acc", Instant.now(), "test-worker"));
    publish(
        JobEvent.succeeded(
            jobId,
            "acc",
            Instant.now(),
            "test-worker",
            new JobEvent.Output("done", List.of()),
            new JobEvent.Usage(3, 4, 0)));
  }

  private static final String BODY =
      "{\"type\":\"text\",\"input\":{\"prompt\":\"Hello\",\"max_tokens\":5},"
          + "\"metadata\":{\"a\":\"1\",\"b\":\"2\"}}";

  private static JsonNode awaitStatus(String key, String id, String status) throws Exception {
    long end = System.nanoTime() + Duration.ofSeconds(20).toNanos();
    JsonNode job = null;
    while (System.nanoTime() < end) {
      job = ApiTestApp.json(app.get("/v1/jobs/" + id, "X-API-Key", key));
      if (status.equals(job.path("status").asText())) {
        return job;
      }
      Thread.sleep(50);
    }
    throw new AssertionError("job " + id + " never became " + status + ": " + job);
  }

  @Test
  void twentyConcurrentSubmissionsWithOneIdempotencyKeyMakeOneJob() throws Exception {
    String key = app.newAccountKey(unique("idem"));
    String idem = "order-" + UUID.randomUUID();
    ExecutorService pool = Executors.newFixedThreadPool(20);
    List<CompletableFuture<HttpResponse<String>>> calls = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      calls.add(
          CompletableFuture.supplyAsync(
              () -> {
                try {
                  return app.postJson("/v1/jobs", BODY, "X-API-Key", key, "Idempotency-Key", idem);
                } catch (Exception e) {
                  throw new RuntimeException(e);
                }
              },
              pool));
    }
    Set<String> ids = new HashSet<>();
    Set<String> bodies = new HashSet<>();
    int replayed = 0;
    for (var call : calls) {
      HttpResponse<String> r = call.get();
      assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
      ids.add(ApiTestApp.json(r).path("id").asText());
      bodies.add(r.body());
      if (r.headers().firstValue("Idempotent-Replayed").isPresent()) {
        replayed++;
      }
    }
    pool.shutdown();
    assertThat(ids).hasSize(1);
    assertThat(bodies).as("every answer is the first one, byte for byte").hasSize(1);
    assertThat(replayed).isEqualTo(19);
    JsonNode list = ApiTestApp.json(app.get("/v1/jobs", "X-API-Key", key));
    assertThat(list.path("data").size()).isEqualTo(1);

    // The same request with its metadata keys in another order is the same request.
    HttpResponse<String> again =
        app.postJson(
            "/v1/jobs",
            "{\"metadata\":{\"b\":\"2\",\"a\":\"1\"},\"type\":\"text\","
                + "\"input\":{\"max_tokens\":5,\"prompt\":\"Hello\"}}",
            "X-API-Key",
            key,
            "Idempotency-Key",
            idem);
    assertThat(again.statusCode()).isEqualTo(202);
    assertThat(ApiTestApp.json(again).path("id").asText()).isEqualTo(ids.iterator().next());

    // A changed body with the same key is refused.
    HttpResponse<String> changed =
        app.postJson(
            "/v1/jobs",
            BODY.replace("Hello", "Goodbye"),
            "X-API-Key",
            key,
            "Idempotency-Key",
            idem);
    assertThat(changed.statusCode()).isEqualTo(422);
    assertThat(ApiTestApp.json(changed).path("code").asText()).isEqualTo("idempotency_key_reused");

    // Keys are per account: another account's identical key makes its own job.
    String other = app.newAccountKey(unique("idem2"));
    HttpResponse<String> theirs =
        app.postJson("/v1/jobs", BODY, "X-API-Key", other, "Idempotency-Key", idem);
    assertThat(theirs.statusCode()).isEqualTo(202);
    assertThat(ApiTestApp.json(theirs).path("id").asText()).isNotIn(ids);

    // A malformed key is a 400, not a silent non-idempotent submit.
    HttpResponse<String> bad =
        app.postJson("/v1/jobs", BODY, "X-API-Key", key, "Idempotency-Key", "x".repeat(256));
    assertThat(bad.statusCode()).isEqualTo(400);
  }

  @Test
  void listingPagesNewestFirstWithFiltersAndNeverShowsAnotherAccount() throws Exception {
    String key = app.newAccountKey(unique("lister"));
    String other = app.newAccountKey(unique("other"));
    List<String> mine = new ArrayList<>();
    for (int i = 0; i < 7; i++) {
      mine.add(
          ApiTestApp.json(app.postJson("/v1/jobs", BODY, "X-API-Key", key)).path("id").asText());
    }
    String theirs =
        ApiTestApp.json(app.postJson("/v1/jobs", BODY, "X-API-Key", other)).path("id").asText();
    succeed(mine.get(2));
    awaitStatus(key, mine.get(2), "succeeded");

    List<List<String>> pages = pages(key, 3);
    List<String> seen = pages.stream().flatMap(List::stream).toList();
    assertThat(pages).hasSize(3);
    List<String> newestFirst = new ArrayList<>(mine);
    java.util.Collections.reverse(newestFirst);
    assertThat(seen).containsExactlyElementsOf(newestFirst);
    assertThat(seen).doesNotContain(theirs);

    JsonNode succeeded = ApiTestApp.json(app.get("/v1/jobs?status=succeeded", "X-API-Key", key));
    assertThat(succeeded.path("data").size()).isEqualTo(1);
    assertThat(succeeded.path("data").get(0).path("id").asText()).isEqualTo(mine.get(2));
    assertThat(
            ApiTestApp.json(app.get("/v1/jobs?type=image", "X-API-Key", key)).path("data").size())
        .isZero();

    for (String q :
        List.of(
            "?status=done", "?type=video", "?limit=0", "?limit=101", "?limit=x", "?cursor=zz")) {
      HttpResponse<String> r = app.get("/v1/jobs" + q, "X-API-Key", key);
      assertThat(r.statusCode()).as(q).isEqualTo(400);
      assertThat(ApiTestApp.json(r).path("code").asText()).isEqualTo("validation_failed");
    }

    // Another account's job: not readable, not cancelable, no delivery log (404, never 403).
    for (var r :
        List.of(
            app.get("/v1/jobs/" + theirs, "X-API-Key", key),
            app.postJson("/v1/jobs/" + theirs + "/cancel", "", "X-API-Key", key),
            app.get("/v1/jobs/" + theirs + "/webhook-deliveries", "X-API-Key", key))) {
      assertThat(r.statusCode()).isEqualTo(404);
    }
    assertThat(
            ApiTestApp.json(app.get("/v1/jobs/" + theirs, "X-API-Key", other))
                .path("status")
                .asText())
        .isEqualTo("queued");
  }

  @Test
  void cancelSendsOneControlMessageAndAFinishedJobIsAConflict() throws Exception {
    String key = app.newAccountKey(unique("cancel"));
    String id =
        ApiTestApp.json(app.postJson("/v1/jobs", BODY, "X-API-Key", key)).path("id").asText();
    HttpResponse<String> r = app.postJson("/v1/jobs/" + id + "/cancel", "", "X-API-Key", key);
    assertThat(r.statusCode()).isEqualTo(202);
    assertThat(ApiTestApp.json(r).path("id").asText()).isEqualTo(id);
    // Asking twice is harmless and sends no second request.
    assertThat(app.postJson("/v1/jobs/" + id + "/cancel", "", "X-API-Key", key).statusCode())
        .isEqualTo(202);
    assertThat(controlMessages(id)).hasSize(1);
    assertThat(controlMessages(id).get(0).action()).isEqualTo(JobControl.Action.CANCEL);

    // The worker is the one writer of the terminal state.
    publish(
        JobEvent.canceled(
            id, "acc", Instant.now(), "test-worker", new JobEvent.Error("canceled", "by client")));
    JsonNode canceled = awaitStatus(key, id, "canceled");
    assertThat(canceled.path("usage").isNull()).isTrue();
    HttpResponse<String> again = app.postJson("/v1/jobs/" + id + "/cancel", "", "X-API-Key", key);
    assertThat(again.statusCode()).isEqualTo(409);
    assertThat(ApiTestApp.json(again).path("code").asText()).isEqualTo("conflict");

    // Canceled while it ran: billed for the work done before the cancel, per-request minimum
    // applied (30 + 12 tokens bill as 100), priced like any other job.
    String ran =
        ApiTestApp.json(app.postJson("/v1/jobs", BODY, "X-API-Key", key)).path("id").asText();
    app.postJson("/v1/jobs/" + ran + "/cancel", "", "X-API-Key", key);
    publish(JobEvent.started(ran, "acc", Instant.now(), "test-worker"));
    publish(
        JobEvent.canceled(
            ran,
            "acc",
            Instant.now(),
            "test-worker",
            new JobEvent.Error("canceled", "Canceled while running."),
            new JobEvent.Usage(30, 12, 0)));
    JsonNode partial = awaitStatus(key, ran, "canceled");
    assertThat(partial.path("usage").path("input_tokens").asInt()).isEqualTo(30);
    assertThat(partial.path("usage").path("output_tokens").asInt()).isEqualTo(12);
    assertThat(partial.path("usage").path("billable_tokens").asInt()).isEqualTo(100);
    assertThat(partial.path("usage").path("cost_usd").asText()).isEqualTo("0.020000");

    String done =
        ApiTestApp.json(app.postJson("/v1/jobs", BODY, "X-API-Key", key)).path("id").asText();
    succeed(done);
    awaitStatus(key, done, "succeeded");
    assertThat(app.postJson("/v1/jobs/" + done + "/cancel", "", "X-API-Key", key).statusCode())
        .isEqualTo(409);
    assertThat(app.postJson("/v1/jobs/job_nope/cancel", "", "X-API-Key", key).statusCode())
        .isEqualTo(404);
  }

  private static List<JobControl> controlMessages(String jobId) {
    Properties p = new Properties();
    p.put("bootstrap.servers", SharedPlatform.kafka().bootstrapServers());
    p.put("group.id", "it-" + UUID.randomUUID());
    p.put("auto.offset.reset", "earliest");
    List<JobControl> out = new ArrayList<>();
    try (var c = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer())) {
      c.subscribe(List.of(Topics.JOB_CONTROL.name()));
      long end = System.nanoTime() + Duration.ofSeconds(5).toNanos();
      while (System.nanoTime() < end) {
        for (var r : c.poll(Duration.ofMillis(200))) {
          if (jobId.equals(r.key())) {
            out.add(Topics.JOB_CONTROL.deserializeValue(r.value()));
          }
        }
      }
    }
    return out;
  }

  @Test
  void preferWaitAnswers200WhenTheJobEndsInTimeElse202() throws Exception {
    String key = app.newAccountKey(unique("waiter"));
    // Ends in time: the event arrives while the request waits.
    CompletableFuture<HttpResponse<String>> waiting =
        CompletableFuture.supplyAsync(
            () -> {
              try {
                return app.postJson("/v1/jobs", BODY, "X-API-Key", key, "Prefer", "wait=20");
              } catch (Exception e) {
                throw new RuntimeException(e);
              }
            });
    String id = null;
    long end = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (id == null && System.nanoTime() < end) {
      JsonNode list = ApiTestApp.json(app.get("/v1/jobs", "X-API-Key", key));
      if (list.path("data").size() > 0) {
        id = list.path("data").get(0).path("id").asText();
      }
    }
    assertThat(id).isNotNull();
    long t0 = System.nanoTime();
    succeed(id);
    HttpResponse<String> r = waiting.get();
    long ms = (System.nanoTime() - t0) / 1_000_000;
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    assertThat(r.headers().firstValue("Preference-Applied")).hasValue("wait=20");
    assertThat(ApiTestApp.json(r).path("status").asText()).isEqualTo("succeeded");
    assertThat(ms).as("answered when the job ended, not at the timeout").isLessThan(5_000);

    // Does not end in time: 202 with the job as it is, after about the asked time.
    long w0 = System.nanoTime();
    HttpResponse<String> late =
        app.postJson("/v1/jobs", BODY, "X-API-Key", key, "Prefer", "wait=1");
    long waited = (System.nanoTime() - w0) / 1_000_000;
    assertThat(late.statusCode()).isEqualTo(202);
    assertThat(late.headers().firstValue("Preference-Applied")).hasValue("wait=1");
    assertThat(waited).isBetween(900L, 5_000L);

    // No preference, no wait.
    assertThat(
            app.postJson("/v1/jobs", BODY, "X-API-Key", key)
                .headers()
                .firstValue("Preference-Applied"))
        .isEmpty();
  }

  @Test
  void manyWaitingRequestsHoldNoThreads() throws Exception {
    // 24 server threads; 150 requests waiting at once would starve a thread-per-wait server.
    String key = app.newAccountKey(unique("crowd"));
    ExecutorService pool = Executors.newFixedThreadPool(150);
    List<CompletableFuture<HttpResponse<String>>> calls = new ArrayList<>();
    for (int i = 0; i < 150; i++) {
      calls.add(
          CompletableFuture.supplyAsync(
              () -> {
                try {
                  return app.postJson("/v1/jobs", BODY, "X-API-Key", key, "Prefer", "wait=60");
                } catch (Exception e) {
                  throw new RuntimeException(e);
                }
              },
              pool));
    }
    // Once every job is in, all 150 requests are waiting: none of their jobs can end before this
    // test ends it, and each waits 60 s. The server still answers another request meanwhile.
    List<String> ids = listAll(key);
    long until = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (ids.size() < 150 && System.nanoTime() < until) {
      Thread.sleep(50);
      ids = listAll(key);
    }
    assertThat(ids).hasSize(150);
    assertThat(app.get("/v1/ping", "X-API-Key", key).statusCode()).isEqualTo(200);
    assertThat(calls.stream().filter(CompletableFuture::isDone).count())
        .as("requests answered before any job ended")
        .isZero();
    for (String id : ids) {
      succeed(id);
    }
    // Every waiting request answers with its finished job.
    for (var c : calls) {
      HttpResponse<String> r = c.get(90, java.util.concurrent.TimeUnit.SECONDS);
      assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
      assertThat(ApiTestApp.json(r).path("status").asText()).isEqualTo("succeeded");
    }
    pool.shutdown();
  }

  /** Every job id of the account, through the listing's pages. */
  private static List<String> listAll(String key) throws Exception {
    return pages(key, 100).stream().flatMap(List::stream).toList();
  }

  /** The account's job ids page by page, {@code limit} a page, following next_cursor. */
  private static List<List<String>> pages(String key, int limit) throws Exception {
    List<List<String>> pages = new ArrayList<>();
    String cursor = null;
    do {
      JsonNode page =
          ApiTestApp.json(
              app.get(
                  "/v1/jobs?limit=" + limit + (cursor == null ? "" : "&cursor=" + cursor),
                  "X-API-Key",
                  key));
      List<String> ids = new ArrayList<>();
      page.path("data").forEach(j -> ids.add(j.path("id").asText()));
      pages.add(ids);
      cursor = page.path("next_cursor").isTextual() ? page.path("next_cursor").asText() : null;
    } while (cursor != null);
    return pages;
  }

  @Test
  void retentionErasesContentButKeepsUsage() throws Exception {
    String key = app.newAccountKey(unique("retain"));
    String id =
        ApiTestApp.json(app.postJson("/v1/jobs", BODY, "X-API-Key", key)).path("id").asText();
    succeed(id);
    awaitStatus(key, id, "succeeded");
    var jdbi =
        org.jdbi.v3.core.Jdbi.create(jdbcUrl, "postgres", "")
            .installPlugin(new org.jdbi.v3.sqlobject.SqlObjectPlugin());
    // A sweep "8 days later" erases it; one "now" does not.
    var now =
        new com.kosmosx.api.jobs.RetentionSweeper(
            jdbi, java.time.Clock.systemUTC(), Duration.ofDays(7), Duration.ofHours(1));
    now.sweep();
    assertThat(ApiTestApp.json(app.get("/v1/jobs/" + id, "X-API-Key", key)).path("output").isNull())
        .isFalse();
    var later =
        new com.kosmosx.api.jobs.RetentionSweeper(
            jdbi,
            java.time.Clock.offset(java.time.Clock.systemUTC(), Duration.ofDays(8)),
            Duration.ofDays(7),
            Duration.ofHours(1));
    assertThat(later.sweep()).isGreaterThanOrEqualTo(1);
    JsonNode job = ApiTestApp.json(app.get("/v1/jobs/" + id, "X-API-Key", key));
    assertThat(job.path("input").isNull()).isTrue();
    assertThat(job.path("output").isNull()).isTrue();
    assertThat(job.path("metadata").isNull()).isTrue();
    assertThat(job.path("status").asText()).isEqualTo("succeeded");
    assertThat(job.path("usage").path("billable_tokens").asInt()).isEqualTo(100);
    try (Connection c = DriverManager.getConnection(jdbcUrl, "postgres", "");
        var rs =
            c.createStatement()
                .executeQuery(
                    "SELECT input_tokens, output_tokens FROM jobs WHERE id = '" + id + "'")) {
      assertThat(rs.next()).isTrue();
      assertThat(rs.getInt(1)).isEqualTo(3);
      assertThat(rs.getInt(2)).isEqualTo(4);
    }
  }
}
