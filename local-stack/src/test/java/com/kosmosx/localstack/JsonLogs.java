package com.kosmosx.localstack;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.kosmosx.runtime.Tracing;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** The JSON logs of a running stack, read the way an operator greps them. */
final class JsonLogs {
  private static final ObjectMapper JSON = new ObjectMapper();

  private JsonLogs() {}

  /**
   * Submits a job with a client's {@code traceparent}, and finds its life in the API's and the
   * worker's logs by that trace id alone: accepted, started, ended and recorded, every line a JSON
   * object carrying the job id, account id and trace id (the worker's the lane too).
   */
  static void followOneJob(StackLayout layout, String key) throws Exception {
    String trace = Tracing.newTraceId();
    HttpResponse<String> r =
        HttpClient.newHttpClient()
            .send(
                HttpRequest.newBuilder(URI.create(layout.apiUrl() + "/v1/jobs"))
                    .header("Authorization", "Bearer " + key)
                    .header("Content-Type", "application/json")
                    .header(Tracing.HEADER, "00-" + trace + "-00f067aa0ba902b7-01")
                    .POST(
                        HttpRequest.BodyPublishers.ofString(
                            "{\"type\":\"text\",\"input\":{\"prompt\":\"A cat\",\"max_tokens\":4}}"))
                    .build(),
                HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
    assertThat(r.headers().firstValue("x-kosmos-trace-id")).hasValue(trace);
    String job = JSON.readTree(r.body()).path("id").asText();

    List<JsonNode> api = List.of();
    List<JsonNode> worker = List.of();
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (System.nanoTime() < end) {
      api = linesWith(layout.logs().resolve("api.log"), trace);
      worker = linesWith(layout.logs().resolve("worker.log"), trace);
      if (messages(api).contains("job " + job + " succeeded (recorded)")
          && messages(worker).stream().anyMatch(m -> m.startsWith("job " + job + " succeeded"))) {
        break;
      }
      Thread.sleep(250);
    }
    System.out.printf(
        "trace %s: %d API line(s) %s, %d worker line(s) %s%n",
        trace, api.size(), messages(api), worker.size(), messages(worker));
    assertThat(messages(api))
        .contains("job " + job + " accepted (text, lane shared)")
        .contains("job " + job + " succeeded (recorded)");
    assertThat(messages(worker))
        .contains("job " + job + " started (batch of 1)")
        .anyMatch(m -> m.startsWith("job " + job + " succeeded in "));
    for (JsonNode line : concat(api, worker)) {
      JsonNode mdc = line.path("mdc");
      assertThat(mdc.path("trace_id").asText()).as(line.toString()).isEqualTo(trace);
      assertThat(mdc.path("job_id").asText()).as(line.toString()).isEqualTo(job);
      assertThat(mdc.path("account_id").asText()).as(line.toString()).startsWith("acc_");
      assertThat(line.path("level").asText()).isNotEmpty();
      assertThat(line.path("timestamp").isMissingNode()).isFalse();
    }
    for (JsonNode line : worker) {
      assertThat(line.path("mdc").path("lane").asText()).isEqualTo("shared");
    }
  }

  private static List<JsonNode> concat(List<JsonNode> a, List<JsonNode> b) {
    List<JsonNode> all = new ArrayList<>(a);
    all.addAll(b);
    return all;
  }

  private static List<String> messages(List<JsonNode> lines) {
    return lines.stream().map(l -> l.path("message").asText()).toList();
  }

  /** The log's lines that mention {@code needle}; each must be one JSON object. */
  private static List<JsonNode> linesWith(Path log, String needle) throws Exception {
    List<JsonNode> out = new ArrayList<>();
    if (!Files.exists(log)) {
      return out;
    }
    for (String line : Files.readAllLines(log)) {
      if (line.contains(needle)) {
        out.add(JSON.readTree(line));
      }
    }
    return out;
  }
}
