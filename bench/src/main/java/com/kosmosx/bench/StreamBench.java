package com.kosmosx.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.kosmosx.platform.SseClient;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Streaming figures on a running stack, through the OpenAI route as clients use it: time to the
 * first streamed token minus the engine's own first-token time (what the platform adds: submit,
 * outbox, Kafka both ways, the relay to the client), at a given number of concurrent streams; and
 * jobs per second streamed against the same jobs answered whole.
 *
 * <p>The engine's part comes from the stream itself: the first content chunk is preceded by the
 * comment {@code : engine_first_token_ms=…}, the worker's time from the start of the batch that
 * holds the job to its first token (prefill and first pick). Generations have a fixed length
 * ({@code ignore_eos}), so every job costs the engine the same.
 */
final class StreamBench {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final HttpClient HTTP =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  private StreamBench() {}

  /** The figures of one run. */
  record Result(
      int clients,
      int jobs,
      int failures,
      double perSecond,
      List<Double> overheadMs,
      List<Double> ttftMs) {
    double overhead(double p) {
      return percentile(overheadMs, p);
    }

    double ttft(double p) {
      return percentile(ttftMs, p);
    }

    @Override
    public String toString() {
      return String.format(
          Locale.ROOT,
          "%d clients: %d jobs, %.1f jobs/s, %d failed; TTFT p50 %.1f p99 %.1f ms; minus the"
              + " engine's first token: p50 %.1f p99 %.1f ms",
          clients,
          jobs,
          perSecond,
          failures,
          ttft(50),
          ttft(99),
          overhead(50),
          overhead(99));
    }
  }

  static double percentile(List<Double> v, double p) {
    if (v.isEmpty()) {
      return Double.NaN;
    }
    List<Double> s = new ArrayList<>(v);
    Collections.sort(s);
    int i = (int) Math.ceil(p / 100.0 * s.size()) - 1;
    return s.get(Math.max(0, Math.min(s.size() - 1, i)));
  }

  private static String body(int maxTokens, boolean stream) {
    return "{\"model\":\"kosmos-2\",\"prompt\":\"Once upon a time\",\"max_tokens\":"
        + maxTokens
        + ",\"ignore_eos\":true"
        + (stream ? ",\"stream\":true" : "")
        + "}";
  }

  /**
   * {@code clients} closed loops, each sending one request after the other for {@code window}.
   *
   * @param stream stream the answers (else wait for the whole answer)
   */
  static Result run(
      String apiUrl, List<String> keys, int clients, int maxTokens, boolean stream, Duration window)
      throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(clients);
    List<Double> overhead = Collections.synchronizedList(new ArrayList<>());
    List<Double> ttft = Collections.synchronizedList(new ArrayList<>());
    AtomicInteger done = new AtomicInteger();
    AtomicInteger failed = new AtomicInteger();
    long start = System.nanoTime();
    long end = start + window.toNanos();
    List<Future<?>> loops = new ArrayList<>();
    for (int c = 0; c < clients; c++) {
      String key = keys.get(c % keys.size());
      loops.add(
          pool.submit(
              () -> {
                while (System.nanoTime() < end) {
                  try {
                    if (stream) {
                      streamOne(apiUrl, key, maxTokens, overhead, ttft);
                    } else {
                      HttpResponse<String> r =
                          HTTP.send(
                              HttpRequest.newBuilder(URI.create(apiUrl + "/v1/completions"))
                                  .header("Authorization", "Bearer " + key)
                                  .header("Content-Type", "application/json")
                                  .POST(HttpRequest.BodyPublishers.ofString(body(maxTokens, false)))
                                  .build(),
                              HttpResponse.BodyHandlers.ofString());
                      if (r.statusCode() != 200) {
                        throw new IllegalStateException(r.statusCode() + " " + r.body());
                      }
                    }
                    done.incrementAndGet();
                  } catch (Exception e) {
                    failed.incrementAndGet();
                  }
                }
                return null;
              }));
    }
    for (Future<?> f : loops) {
      // A stream that never ends (no worker) fails the figure instead of hanging the bench.
      f.get(window.toSeconds() + 120, java.util.concurrent.TimeUnit.SECONDS);
    }
    double seconds = (System.nanoTime() - start) / 1e9;
    pool.shutdown();
    return new Result(
        clients,
        done.get(),
        failed.get(),
        done.get() / seconds,
        List.copyOf(overhead),
        List.copyOf(ttft));
  }

  private static void streamOne(
      String apiUrl, String key, int maxTokens, List<Double> overhead, List<Double> ttft)
      throws Exception {
    long t0 = System.nanoTime();
    try (SseClient s =
        SseClient.open(
            "POST",
            apiUrl + "/v1/completions",
            body(maxTokens, true),
            "Authorization",
            "Bearer " + key)) {
      if (s.response.statusCode() != 200) {
        throw new IllegalStateException("stream answered " + s.response.statusCode());
      }
      boolean first = true;
      boolean finished = false;
      for (SseClient.Event e = s.next(); e != null; e = s.next()) {
        if (e.data().equals("[DONE]")) {
          break;
        }
        JsonNode c = JSON.readTree(e.data());
        if (c.has("error")) {
          throw new IllegalStateException(c.toString());
        }
        JsonNode choice = c.path("choices").path(0);
        if (first && !choice.path("text").asText("").isEmpty()) {
          first = false;
          double ms = (e.nanos() - t0) / 1e6;
          ttft.add(ms);
          for (String comment : e.comments()) {
            if (comment.startsWith("engine_first_token_ms=")) {
              overhead.add(ms - Double.parseDouble(comment.substring(22)));
            }
          }
        }
        if (!choice.path("finish_reason").isNull() && !choice.isMissingNode()) {
          finished = true;
        }
      }
      if (!finished) {
        throw new IllegalStateException("the stream ended without a finish");
      }
    }
  }
}
