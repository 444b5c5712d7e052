package com.kosmosx.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.kosmosx.platform.SharedPlatform;
import io.dropwizard.testing.ConfigOverride;
import io.dropwizard.testing.DropwizardTestSupport;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A real api-service on random ports against the shared embedded broker and a database of the
 * caller's choosing, plus a raw HTTP client (so tests can send malformed bodies and headers).
 */
public final class ApiTestApp implements AutoCloseable {
  public static final ObjectMapper JSON = new ObjectMapper();
  private static final HttpClient HTTP =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  private final DropwizardTestSupport<ApiConfiguration> support;
  private final String jdbcUrl;

  /** One configuration setting; a test's settings replace the defaults with the same key. */
  public record Setting(String key, String value) {}

  public static Setting setting(String key, String value) {
    return new Setting(key, value);
  }

  public ApiTestApp(String configPath, String jdbcUrl, Setting... extra) {
    this.jdbcUrl = jdbcUrl;
    // Keyed, so a test's setting replaces the default: DropwizardTestSupport keeps overrides in a
    // Set, and two overrides of one key would apply in an arbitrary order.
    Map<String, String> settings = new LinkedHashMap<>();
    settings.put("server.applicationConnectors[0].port", "0");
    settings.put("server.adminConnectors[0].port", "0");
    settings.put("database.url", jdbcUrl);
    settings.put("kafka.bootstrapServers", SharedPlatform.kafka().bootstrapServers());
    settings.put("auth.bcryptCost", "4");
    settings.put("jobs.tokenizer", "../model/tiny-kosmos/tokenizer.json");
    settings.put("logging.level", "WARN");
    // Every test signs up from 127.0.0.1; tests of the per-address limit set their own.
    settings.put("rateLimits.signupsPerAddressPerHour", "100000");
    for (Setting s : extra) {
      settings.put(s.key(), s.value());
    }
    ConfigOverride[] overrides =
        settings.entrySet().stream()
            .map(e -> ConfigOverride.config(e.getKey(), e.getValue()))
            .toArray(ConfigOverride[]::new);
    support = new DropwizardTestSupport<>(ApiApplication.class, configPath, overrides);
  }

  public ApiTestApp start() throws Exception {
    support.before();
    return this;
  }

  public String jdbcUrl() {
    return jdbcUrl;
  }

  public String baseUrl() {
    return "http://localhost:" + support.getLocalPort();
  }

  public int adminPort() {
    return support.getAdminPort();
  }

  @Override
  public void close() {
    support.after();
  }

  public HttpResponse<String> send(
      String method, String path, String contentType, String body, String... headers)
      throws Exception {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(URI.create(baseUrl() + path)).timeout(Duration.ofSeconds(30));
    if (contentType != null) {
      b.header("Content-Type", contentType);
    }
    for (int i = 0; i + 1 < headers.length; i += 2) {
      b.header(headers[i], headers[i + 1]);
    }
    b.method(
        method,
        body == null
            ? HttpRequest.BodyPublishers.noBody()
            : HttpRequest.BodyPublishers.ofString(body));
    HttpRequest request = b.build();
    try {
      return HTTP.send(request, HttpResponse.BodyHandlers.ofString());
    } catch (java.io.IOException e) {
      // A pooled connection the server had closed (after refusing an earlier request without
      // reading its body): nothing reached the server, so sending again is safe, as browsers do.
      if (String.valueOf(e.getMessage()).contains("received no bytes")) {
        return HTTP.send(request, HttpResponse.BodyHandlers.ofString());
      }
      throw e;
    }
  }

  /** Raw bytes (invalid UTF-8, huge bodies); chunked when {@code chunked}, else Content-Length. */
  public HttpResponse<String> sendBytes(
      String method,
      String path,
      String contentType,
      byte[] body,
      boolean chunked,
      String... headers)
      throws Exception {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(URI.create(baseUrl() + path)).timeout(Duration.ofSeconds(30));
    if (contentType != null) {
      b.header("Content-Type", contentType);
    }
    for (int i = 0; i + 1 < headers.length; i += 2) {
      b.header(headers[i], headers[i + 1]);
    }
    b.method(
        method,
        chunked
            ? HttpRequest.BodyPublishers.ofInputStream(() -> new java.io.ByteArrayInputStream(body))
            : HttpRequest.BodyPublishers.ofByteArray(body));
    // Bounded: a client still uploading when the server has already answered must not hang a test.
    // A fresh client per call: after refusing a body the server closes the connection, and a
    // pooled one would hand that dead connection to the next case.
    HttpClient fresh = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    return fresh
        .sendAsync(b.build(), HttpResponse.BodyHandlers.ofString())
        .get(60, java.util.concurrent.TimeUnit.SECONDS);
  }

  /**
   * Announces a body of {@code declaredLength} bytes, sends only the first 64 KiB, and reads the
   * answer: what a server that refuses oversized bodies by their Content-Length must handle without
   * waiting for (or reading) the rest. Returns the status line and the body.
   */
  public String[] oversizedPost(String path, long declaredLength) throws Exception {
    try (java.net.Socket socket = new java.net.Socket("localhost", support.getLocalPort())) {
      socket.setSoTimeout(30_000);
      var out = socket.getOutputStream();
      out.write(
          ("POST "
                  + path
                  + " HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                  + "Content-Length: "
                  + declaredLength
                  + "\r\nConnection: close\r\n\r\n")
              .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
      out.write(new byte[65_536]);
      out.flush();
      String response =
          new String(
              socket.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
      int split = response.indexOf("\r\n\r\n");
      return new String[] {response.substring(0, split), response.substring(split + 4)};
    }
  }

  public HttpResponse<String> postJson(String path, String body, String... headers)
      throws Exception {
    return send("POST", path, "application/json", body, headers);
  }

  public HttpResponse<String> get(String path, String... headers) throws Exception {
    return send("GET", path, null, null, headers);
  }

  /** Creates an account and returns its API key. */
  public String newAccountKey(String username) throws Exception {
    var r =
        postJson(
            "/v1/accounts",
            "{\"username\":\""
                + username
                + "\",\"email\":\""
                + username
                + "@example.com\",\"password\":\"correct horse battery\"}");
    if (r.statusCode() != 201) {
      throw new AssertionError("account creation failed: " + r.statusCode() + " " + r.body());
    }
    return JSON.readTree(r.body()).path("api_key").path("key").asText();
  }

  public static JsonNode json(HttpResponse<String> r) throws Exception {
    return JSON.readTree(r.body());
  }
}
