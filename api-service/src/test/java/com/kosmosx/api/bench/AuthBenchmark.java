package com.kosmosx.api.bench;

import com.kosmosx.api.ApiTestApp;
import com.kosmosx.platform.SharedPlatform;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.LongAdder;

/**
 * What authentication costs: throughput of the authenticated no-op {@code GET /v1/ping} (warm key
 * cache) against the unauthenticated {@code GET /ping} on the same server, same clients, measured
 * side by side. A key check must not touch bcrypt or the database on the hot path, so the ratio
 * should stay close to 1.
 *
 * <pre>
 *   ./mvnw -q -pl api-service -am install -DskipTests
 *   ./mvnw -q -pl api-service exec:java -Dexec.classpathScope=test \
 *       -Dexec.mainClass=com.kosmosx.api.bench.AuthBenchmark [-Dexec.args="16 10"]
 * </pre>
 */
public final class AuthBenchmark {
  private AuthBenchmark() {}

  public static void main(String[] args) {
    try {
      benchmark(args);
      System.exit(0);
    } catch (Exception e) {
      e.printStackTrace();
      // The embedded broker's threads would keep the JVM (and exec:java) alive.
      System.exit(1);
    }
  }

  private static void benchmark(String[] args) throws Exception {
    int clients = args.length > 0 ? Integer.parseInt(args[0]) : 16;
    int seconds = args.length > 1 ? Integer.parseInt(args[1]) : 8;
    try (ApiTestApp app =
        new ApiTestApp(
                // exec:java runs in the reactor root, tests in the module directory.
                java.nio.file.Files.exists(java.nio.file.Path.of("config.yml"))
                    ? "config.yml"
                    : "api-service/config.yml",
                SharedPlatform.freshDatabase("auth_bench"),
                ApiTestApp.setting("server.requestLog.appenders[0].type", "console"),
                ApiTestApp.setting("server.requestLog.appenders[0].threshold", "OFF"))
            .start()) {
      String key = app.newAccountKey("bench");
      // Warm-up: JIT (slow with 2 cores shared by clients and server), pools, the key cache.
      for (int i = 0; i < 3; i++) {
        run(app.baseUrl() + "/ping", null, clients, 5);
        run(app.baseUrl() + "/v1/ping", key, clients, 5);
      }
      // Interleaved, so drift (JIT, GC, the other core's load) hits both sides alike.
      double open1 = run(app.baseUrl() + "/ping", null, clients, seconds);
      double authed1 = run(app.baseUrl() + "/v1/ping", key, clients, seconds);
      double open2 = run(app.baseUrl() + "/ping", null, clients, seconds);
      double authed2 = run(app.baseUrl() + "/v1/ping", key, clients, seconds);
      double baseline = (open1 + open2) / 2;
      double authed = (authed1 + authed2) / 2;
      System.out.printf(
          Locale.ROOT,
          "auth benchmark: %d clients, %d s per run, %d cores (client and server share them)%n"
              + "  GET /ping    (no auth)        %10.0f req/s (runs: %.0f, %.0f)%n"
              + "  GET /v1/ping (API key, warm)  %10.0f req/s (runs: %.0f, %.0f)%n"
              + "  ratio authenticated / open    %10.2f%n",
          clients,
          seconds,
          Runtime.getRuntime().availableProcessors(),
          baseline,
          open1,
          open2,
          authed,
          authed1,
          authed2,
          authed / baseline);
    }
  }

  private static double run(String url, String key, int clients, int seconds) throws Exception {
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10));
    if (key != null) {
      b.header("Authorization", "Bearer " + key);
    }
    HttpRequest request = b.build();
    LongAdder ok = new LongAdder();
    LongAdder failed = new LongAdder();
    long end = System.nanoTime() + Duration.ofSeconds(seconds).toNanos();
    List<Thread> threads = new ArrayList<>();
    for (int i = 0; i < clients; i++) {
      Thread t =
          new Thread(
              () -> {
                while (System.nanoTime() < end) {
                  try {
                    HttpResponse<Void> r =
                        http.send(request, HttpResponse.BodyHandlers.discarding());
                    (r.statusCode() == 200 ? ok : failed).increment();
                  } catch (Exception e) {
                    failed.increment();
                  }
                }
              });
      t.start();
      threads.add(t);
    }
    for (Thread t : threads) {
      t.join();
    }
    if (failed.sum() > 0) {
      System.out.println("  (" + failed.sum() + " failed requests on " + url + ")");
    }
    return ok.sum() / (double) seconds;
  }
}
