package com.kosmosx.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.kosmosx.contracts.Topics;
import com.kosmosx.platform.SharedPlatform;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import java.util.UUID;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.Test;

/**
 * A job on a lane no worker serves does not wait silently: health names the lane, and the job ends
 * {@code failed}/{@code expired} at its deadline with a message naming the lane, unbilled.
 */
class LanesIT {

  private static JsonNode health(ApiTestApp app) throws Exception {
    HttpResponse<String> r =
        HttpClient.newHttpClient()
            .send(
                HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + app.adminPort() + "/healthcheck"))
                    .build(),
                HttpResponse.BodyHandlers.ofString());
    return ApiTestApp.JSON.readTree(r.body());
  }

  private static String metrics(ApiTestApp app) throws Exception {
    HttpResponse<String> r =
        HttpClient.newHttpClient()
            .send(
                HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + app.adminPort() + "/metrics"))
                    .build(),
                HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("Content-Type").orElse("")).startsWith("text/plain");
    return r.body();
  }

  @Test
  void healthNamesLanesWithoutWorkersAndTheirJobsEndAtTheDeadline() throws Exception {
    String group = "lanes-it-" + UUID.randomUUID();
    try (ApiTestApp app =
        new ApiTestApp(
                "config.yml",
                SharedPlatform.freshDatabase("lanes_it"),
                ApiTestApp.setting("kafka.workerGroup", group),
                ApiTestApp.setting("jobs.deadlineGrace", "0s"),
                ApiTestApp.setting("jobs.deadlineSweepInterval", "200ms"))
            .start()) {
      JsonNode lanes = health(app).path("lanes");
      // Reported, without taking the API instance out of service for it.
      assertThat(lanes.path("healthy").asBoolean()).isTrue();
      assertThat(lanes.path("message").asText()).contains("lanes without a worker");
      assertThat(lanes.path("unserved").toString()).contains("shared").contains("dedicated");

      String key = app.newAccountKey("lanes" + UUID.randomUUID().toString().substring(0, 6));
      HttpResponse<String> r =
          app.postJson(
              "/v1/jobs",
              "{\"type\":\"text\",\"input\":{\"prompt\":\"hi\",\"max_tokens\":3}}",
              "X-API-Key",
              key);
      assertThat(r.statusCode()).isEqualTo(202);
      String id = ApiTestApp.json(r).path("id").asText();
      String waiting =
          ApiTestApp.json(
                  app.postJson(
                      "/v1/jobs",
                      "{\"type\":\"text\",\"input\":{\"prompt\":\"hi\",\"max_tokens\":3}}",
                      "X-API-Key",
                      key))
              .path("id")
              .asText();
      try (Connection c = DriverManager.getConnection(app.jdbcUrl(), "postgres", "")) {
        ResultSet rs =
            c.createStatement()
                .executeQuery(
                    "SELECT deadline_at > now() + interval '50 minutes' FROM jobs WHERE id = '"
                        + waiting
                        + "'");
        assertThat(rs.next() && rs.getBoolean(1))
            .as("the deadline is stored with the job")
            .isTrue();
        // An hour passes for the first job.
        c.createStatement()
            .executeUpdate(
                "UPDATE jobs SET deadline_at = now() - interval '1 second' WHERE id = '"
                    + id
                    + "'");
      }
      JsonNode job = null;
      long end = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      while (System.nanoTime() < end) {
        job = ApiTestApp.json(app.get("/v1/jobs/" + id, "X-API-Key", key));
        if (job.path("status").asText().equals("failed")) {
          break;
        }
        Thread.sleep(100);
      }
      assertThat(job.path("status").asText()).isEqualTo("failed");
      assertThat(job.path("error").path("code").asText()).isEqualTo("expired");
      assertThat(job.path("error").path("message").asText())
          .contains("lane 'shared' has no worker");
      assertThat(
              ApiTestApp.json(app.get("/v1/jobs/" + waiting, "X-API-Key", key))
                  .path("status")
                  .asText())
          .as("a job within its deadline keeps waiting")
          .isEqualTo("queued");

      // The same for Prometheus (admin /metrics): no consumer on the lane, its jobs waiting; and
      // requests are counted by route template, never by the path a client made up
      String probe = "no-such-" + UUID.randomUUID();
      assertThat(app.get("/" + probe, "X-API-Key", key).statusCode()).isEqualTo(404);
      String verb = "BREW" + UUID.randomUUID().toString().substring(0, 8).toUpperCase();
      assertThat(app.send(verb, "/v1/jobs", null, null, "X-API-Key", key).statusCode())
          .isBetween(400, 499);
      String metrics = metrics(app);
      assertThat(metrics)
          .contains("kosmos_lane_consumers{lane=\"shared\"} 0.0")
          .containsPattern("kosmos_lane_consumer_lag\\{lane=\"shared\"\\} [1-9]")
          .contains(
              "kosmos_http_requests_total{method=\"GET\",route=\"/v1/jobs/{id}\",status=\"200\"}")
          .contains("kosmos_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}")
          .contains("kosmos_outbox_oldest_age_seconds ")
          .contains("jvm_memory_used_bytes{area=\"heap\"}")
          .doesNotContain(probe)
          .doesNotContain(verb);

      // A worker joins the shared lane's group: health sees it (asked at most every 15 s).
      Properties p = new Properties();
      p.put("bootstrap.servers", SharedPlatform.kafka().bootstrapServers());
      p.put("group.id", group + ".shared");
      try (KafkaConsumer<String, byte[]> worker =
          new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer())) {
        worker.subscribe(List.of(Topics.JOBS_SHARED.name()));
        String message = "";
        long until = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (System.nanoTime() < until) {
          worker.poll(Duration.ofMillis(200));
          message = health(app).path("lanes").path("message").asText();
          if (!message.contains("shared")) {
            break;
          }
        }
        assertThat(message).contains("lanes without a worker: [dedicated]");
        String consumers = "";
        until = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (System.nanoTime() < until) {
          worker.poll(Duration.ofMillis(200));
          consumers = metrics(app);
          if (consumers.contains("kosmos_lane_consumers{lane=\"shared\"} 1.0")) {
            break;
          }
        }
        assertThat(consumers).contains("kosmos_lane_consumers{lane=\"shared\"} 1.0");
      }
    }
  }
}
