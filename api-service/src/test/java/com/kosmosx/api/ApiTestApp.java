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
import java.util.ArrayList;
import java.util.List;

/**
 * A real api-service on random ports against the shared embedded broker and a database of the
 * caller's choosing, plus a raw HTTP client (so tests can send malformed bodies and headers).
 */
public final class ApiTestApp implements AutoCloseable {
  public static final ObjectMapper JSON = new ObjectMapper();
  private static final HttpClient HTTP =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  private final DropwizardTestSupport<ApiConfiguration> support;

  public ApiTestApp(String configPath, String jdbcUrl, ConfigOverride... extra) {
    List<ConfigOverride> overrides = new ArrayList<>();
    overrides.add(ConfigOverride.config("server.applicationConnectors[0].port", "0"));
    overrides.add(ConfigOverride.config("server.adminConnectors[0].port", "0"));
    overrides.add(ConfigOverride.config("database.url", jdbcUrl));
    overrides.add(
        ConfigOverride.config("kafka.bootstrapServers", SharedPlatform.kafka().bootstrapServers()));
    overrides.add(ConfigOverride.config("auth.bcryptCost", "4"));
    overrides.add(ConfigOverride.config("logging.level", "WARN"));
    // Every test signs up from 127.0.0.1; tests of the per-address limit set their own.
    overrides.add(ConfigOverride.config("rateLimits.signupsPerAddressPerHour", "100000"));
    overrides.addAll(List.of(extra));
    support =
        new DropwizardTestSupport<>(
            ApiApplication.class, configPath, overrides.toArray(new ConfigOverride[0]));
  }

  public ApiTestApp start() throws Exception {
    support.before();
    return this;
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
    return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
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
