package com.kosmosx.bench;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The load generator against a real HTTP server (the JDK's), fixed and chunked bodies. */
class HttpLoadTest {

  private static HttpServer server(AtomicInteger hits, long delayMillis) throws Exception {
    HttpServer s = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 128);
    s.setExecutor(Executors.newFixedThreadPool(8));
    s.createContext(
        "/fixed",
        ex -> {
          ex.getRequestBody().readAllBytes();
          hits.incrementAndGet();
          try {
            Thread.sleep(delayMillis);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
          byte[] b = "{\"status\":\"succeeded\"}".getBytes(StandardCharsets.UTF_8);
          ex.sendResponseHeaders(202, b.length);
          ex.getResponseBody().write(b);
          ex.close();
        });
    s.createContext(
        "/chunked",
        ex -> {
          hits.incrementAndGet();
          ex.sendResponseHeaders(200, 0); // 0: chunked
          ex.getResponseBody().write("hello ".getBytes(StandardCharsets.UTF_8));
          ex.getResponseBody().write("world".getBytes(StandardCharsets.UTF_8));
          ex.close();
        });
    s.start();
    return s;
  }

  @Test
  void closedLoopCountsOnlyAnswersInsideTheWindowAndReadsBothBodyForms() throws Exception {
    AtomicInteger hits = new AtomicInteger();
    HttpServer s = server(hits, 0);
    int port = s.getAddress().getPort();
    try (HttpLoad.Connection c = new HttpLoad.Connection(port)) {
      byte[] chunked = HttpLoad.request("GET", "/chunked", port, "k", null, null);
      HttpLoad.Answer a = c.exchange(chunked);
      assertThat(a.status()).isEqualTo(200);
      assertThat(a.body()).isEqualTo("hello world");
      // The same connection again: the chunked body was read to its end.
      assertThat(c.exchange(chunked).body()).isEqualTo("hello world");
    }
    byte[] post = HttpLoad.request("POST", "/fixed", port, "k", "Prefer: wait=1", "{\"x\":1}");
    HttpLoad.Result r =
        HttpLoad.closedLoop(
            port,
            i -> post,
            a -> a.status() == 202,
            4,
            Duration.ofMillis(200),
            Duration.ofSeconds(1));
    s.stop(0);
    assertThat(r.failures()).isZero();
    assertThat(r.requests()).isGreaterThan(10).isLessThan(hits.get());
    assertThat(r.perSecond()).isEqualTo(r.requests() / 1.0);
    assertThat(r.percentileMillis(50)).isPositive().isLessThanOrEqualTo(r.percentileMillis(99));
  }

  @Test
  void openLoopKeepsTheRateAndCountsAFailedCheck() throws Exception {
    AtomicInteger hits = new AtomicInteger();
    HttpServer s = server(hits, 5);
    int port = s.getAddress().getPort();
    byte[] post = HttpLoad.request("POST", "/fixed", port, null, null, "{}");
    HttpLoad.Result r =
        HttpLoad.openLoop(
            port,
            i -> post,
            a -> a.status() == 202,
            4,
            100,
            Duration.ofMillis(200),
            Duration.ofSeconds(1));
    HttpLoad.Result wrong =
        HttpLoad.openLoop(
            port, i -> post, a -> a.status() == 200, 2, 50, Duration.ZERO, Duration.ofMillis(400));
    s.stop(0);
    // 100/s for 1 s after the warm-up: about 100 requests, each taking at least the 5 ms delay.
    assertThat(r.requests()).isBetween(90L, 101L);
    assertThat(r.percentileMillis(50)).isGreaterThanOrEqualTo(5);
    assertThat(wrong.requests()).isZero();
    assertThat(wrong.failures()).isBetween(15L, 21L);
  }

  @Test
  void percentilesAreNearestRank() {
    long[] v = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    assertThat(HttpLoad.percentile(v, 50)).isEqualTo(5);
    assertThat(HttpLoad.percentile(v, 99)).isEqualTo(10);
    assertThat(HttpLoad.percentile(new long[0], 50)).isEqualTo(-1);
  }
}
