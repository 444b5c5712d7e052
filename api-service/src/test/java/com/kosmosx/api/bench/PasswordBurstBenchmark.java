package com.kosmosx.api.bench;

import com.kosmosx.api.ApiTestApp;
import com.kosmosx.platform.SharedPlatform;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * What a burst of wrong passwords costs everyone else: {@code GET /ping} latency measured alone,
 * then while 200 concurrent wrong Basic passwords from one address arrive, on the same server with
 * the production bcrypt cost (12). The failed-password limit is reserved before any bcrypt work and
 * bcrypt runs on a bounded number of cores, so the burst gets at most 20 checks and the ping p99
 * should stay under 100 ms; printed with the baseline from the same run.
 *
 * <pre>
 *   ./mvnw -q -pl api-service -am install -DskipTests
 *   cd api-service &amp;&amp; ../mvnw -q org.codehaus.mojo:exec-maven-plugin:3.5.0:java \
 *       -Dexec.classpathScope=test -Dexec.mainClass=com.kosmosx.api.bench.PasswordBurstBenchmark
 * </pre>
 */
public final class PasswordBurstBenchmark {
  private PasswordBurstBenchmark() {}

  public static void main(String[] args) {
    try {
      benchmark();
      System.exit(0);
    } catch (Exception e) {
      e.printStackTrace();
      System.exit(1);
    }
  }

  private static void benchmark() throws Exception {
    try (ApiTestApp app =
        new ApiTestApp(
                java.nio.file.Files.exists(java.nio.file.Path.of("config.yml"))
                    ? "config.yml"
                    : "api-service/config.yml",
                SharedPlatform.freshDatabase("pwburst_bench"),
                ApiTestApp.setting("auth.bcryptCost", "12"),
                ApiTestApp.setting("server.requestLog.appenders[0].type", "console"),
                ApiTestApp.setting("server.requestLog.appenders[0].threshold", "OFF"))
            .start()) {
      app.newAccountKey("victim");
      HttpClient http = HttpClient.newHttpClient();
      URI ping = URI.create(app.baseUrl() + "/ping");
      pings(http, ping, 500); // warm-up
      List<Long> alone = pings(http, ping, 400);
      String wrong =
          "Basic "
              + Base64.getEncoder()
                  .encodeToString("victim:wrong password".getBytes(StandardCharsets.UTF_8));
      List<CompletableFuture<HttpResponse<Void>>> burst = new ArrayList<>();
      long t0 = System.nanoTime();
      for (int i = 0; i < 200; i++) {
        burst.add(
            http.sendAsync(
                HttpRequest.newBuilder(URI.create(app.baseUrl() + "/v1/api-keys"))
                    .header("Authorization", wrong)
                    .build(),
                HttpResponse.BodyHandlers.discarding()));
      }
      List<Long> during = new ArrayList<>();
      while (burst.stream().anyMatch(f -> !f.isDone()) || during.size() < 400) {
        during.addAll(pings(http, ping, 20));
      }
      long burstMs = (System.nanoTime() - t0) / 1_000_000;
      long checked = burst.stream().filter(f -> f.join().statusCode() == 401).count();
      long refused = burst.stream().filter(f -> f.join().statusCode() == 429).count();
      System.out.printf(
          "burst of 200 wrong passwords (bcrypt cost 12): %d checked (401), %d refused (429),"
              + " over in %d ms%n",
          checked, refused, burstMs);
      System.out.printf(
          "GET /ping alone:  p50 %.2f ms  p99 %.2f ms (%d requests)%n",
          pct(alone, 50), pct(alone, 99), alone.size());
      System.out.printf(
          "GET /ping during: p50 %.2f ms  p99 %.2f ms (%d requests); p99 ratio %.1fx; goal p99 <"
              + " 100 ms: %s%n",
          pct(during, 50),
          pct(during, 99),
          during.size(),
          pct(during, 99) / pct(alone, 99),
          pct(during, 99) < 100 ? "met" : "MISSED");
    }
  }

  private static List<Long> pings(HttpClient http, URI uri, int n) throws Exception {
    List<Long> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      long t = System.nanoTime();
      http.send(HttpRequest.newBuilder(uri).build(), HttpResponse.BodyHandlers.discarding());
      out.add(System.nanoTime() - t);
    }
    return out;
  }

  private static double pct(List<Long> nanos, int p) {
    List<Long> sorted = new ArrayList<>(nanos);
    Collections.sort(sorted);
    return sorted.get(Math.min(sorted.size() - 1, sorted.size() * p / 100)) / 1e6;
  }
}
