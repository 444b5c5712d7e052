package com.kosmosx.localstack;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.UUID;

/** Accounts on a running local stack, for the soak, the benchmarks and the crash tests. */
public final class StackAccounts {
  private static final HttpClient HTTP =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  private static final ObjectMapper JSON = new ObjectMapper();

  private StackAccounts() {}

  /** Signs up a new account ({@code prefix} + a random suffix) and returns its API key. */
  public static String newKey(StackLayout layout, String prefix) throws Exception {
    String user = prefix + UUID.randomUUID().toString().substring(0, 8);
    HttpResponse<String> r =
        HTTP.send(
            HttpRequest.newBuilder(URI.create(layout.apiUrl() + "/v1/accounts"))
                .header("Content-Type", "application/json")
                .POST(
                    HttpRequest.BodyPublishers.ofString(
                        "{\"username\":\""
                            + user
                            + "\",\"email\":\""
                            + prefix
                            + "@example.com\",\"password\":\"long enough pw\"}"))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    if (r.statusCode() != 201) {
      throw new IllegalStateException("sign-up answered " + r.statusCode() + ": " + r.body());
    }
    return JSON.readTree(r.body()).path("api_key").path("key").asText();
  }
}
