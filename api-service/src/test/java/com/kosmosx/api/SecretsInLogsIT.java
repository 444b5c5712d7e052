package com.kosmosx.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.kosmosx.platform.SharedPlatform;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Every credential the API handles, used right and wrong, and none of them in the logs. */
class SecretsInLogsIT {

  @Test
  void noKeyPasswordOrSecretReachesTheLogs() throws Exception {
    Path dir = Files.createTempDirectory("api-logs");
    Path appLog = dir.resolve("app.log");
    Path requestLog = dir.resolve("requests.log");
    List<String> secrets = new ArrayList<>();
    String password = "hunter2-but-longer";
    secrets.add(password);
    try (ApiTestApp app =
        new ApiTestApp(
                "config.yml",
                SharedPlatform.freshDatabase("logs_it"),
                ApiTestApp.setting("logging.level", "DEBUG"),
                ApiTestApp.setting("logging.loggers.org.apache.kafka", "INFO"),
                ApiTestApp.setting("logging.appenders[0].type", "file"),
                ApiTestApp.setting("logging.appenders[0].currentLogFilename", appLog.toString()),
                ApiTestApp.setting("logging.appenders[0].archive", "false"),
                ApiTestApp.setting("server.requestLog.appenders[0].type", "file"),
                ApiTestApp.setting(
                    "server.requestLog.appenders[0].currentLogFilename", requestLog.toString()),
                ApiTestApp.setting("server.requestLog.appenders[0].archive", "false"))
            .start()) {
      var created =
          app.postJson(
              "/v1/accounts",
              "{\"username\":\"logcheck\",\"email\":\"l@example.com\",\"password\":\""
                  + password
                  + "\"}");
      JsonNode body = ApiTestApp.json(created);
      String key = body.path("api_key").path("key").asText();
      secrets.add(key);
      secrets.add(body.path("webhook_secret").asText());
      String basic =
          "Basic "
              + Base64.getEncoder()
                  .encodeToString(("logcheck:" + password).getBytes(StandardCharsets.UTF_8));
      String wrongBasic =
          "Basic "
              + Base64.getEncoder()
                  .encodeToString("logcheck:wrong-password-x".getBytes(StandardCharsets.UTF_8));
      secrets.add("wrong-password-x");

      app.get("/v1/api-keys", "Authorization", "Bearer " + key);
      app.get("/v1/api-keys", "X-API-Key", key);
      app.get("/v1/api-keys", "Authorization", "Bearer " + key + "x");
      app.get("/v1/api-keys", "Authorization", wrongBasic);
      var extra =
          ApiTestApp.json(app.postJson("/v1/api-keys", "{\"name\":\"x\"}", "Authorization", basic));
      secrets.add(extra.path("key").asText());
      var rotated =
          ApiTestApp.json(
              app.postJson(
                  "/v1/api-keys/rotate", "{\"grace_seconds\":60}", "Authorization", basic));
      secrets.add(rotated.path("key").asText());
      secrets.add(
          ApiTestApp.json(
                  app.send(
                      "POST",
                      "/v1/webhook-secret/rotate",
                      null,
                      null,
                      "X-API-Key",
                      rotated.path("key").asText()))
              .path("webhook_secret")
              .asText());
      app.postJson("/register", "{\"username\":\"logcheck2\",\"password\":\"" + password + "\"}");
      app.postJson(
          "/rotate_api_key", "{\"username\":\"logcheck2\",\"password\":\"" + password + "\"}");
      app.postJson(
          "/v1/accounts",
          "{\"username\":\"logcheck\",\"email\":\"l@example.com\",\"password\":\""
              + password
              + "\"}");
      app.postJson(
          "/v1/jobs",
          "{\"type\":\"text\",\"input\":{\"prompt\":\"hello\"}}",
          "X-API-Key",
          rotated.path("key").asText());
    }
    String logs = Files.readString(appLog) + Files.readString(requestLog);
    assertThat(logs).contains("account").contains("/v1/api-keys"); // the logs were written
    for (String s : secrets) {
      assertThat(s).isNotBlank();
      assertThat(logs).as("a secret in the logs").doesNotContain(s);
    }
    assertThat(logs).doesNotContain("kx_live_").doesNotContain("whsec_").doesNotContain("$2a$");
  }
}
