package com.kosmosx.api;

import static com.kosmosx.api.ApiServiceIT.assertProblem;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.kosmosx.platform.SharedPlatform;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Every row of API.md's "Accounts and keys" table and the seed routes, on the real database. */
class AccountsAndKeysIT {
  private static final String PASSWORD = "correct horse battery";
  private static String jdbcUrl;
  private static ApiTestApp app;
  private static ApiTestApp second;
  private static final List<String> issuedSecrets = new ArrayList<>();

  @BeforeAll
  static void start() throws Exception {
    jdbcUrl = SharedPlatform.freshDatabase("accounts_it");
    // Fast last_used_at flushes, so the test sees them without waiting 5 s.
    var flush = ApiTestApp.setting("auth.lastUsedFlushInterval", "200ms");
    app = new ApiTestApp("config.yml", jdbcUrl, flush).start();
    second = new ApiTestApp("config.yml", jdbcUrl, flush).start();
  }

  @AfterAll
  static void stop() {
    second.close();
    app.close();
  }

  private record Account(String id, String username, String key) {}

  private static Account newAccount() throws Exception {
    String user = "u" + UUID.randomUUID().toString().substring(0, 12).replace("-", "");
    var r =
        app.postJson(
            "/v1/accounts",
            "{\"username\":\""
                + user
                + "\",\"email\":\""
                + user
                + "@example.com\",\"password\":\""
                + PASSWORD
                + "\"}");
    assertThat(r.statusCode()).as(r.body()).isEqualTo(201);
    JsonNode b = ApiTestApp.json(r);
    String key = b.path("api_key").path("key").asText();
    issuedSecrets.add(key);
    issuedSecrets.add(b.path("webhook_secret").asText());
    return new Account(b.path("account_id").asText(), user, key);
  }

  private static String basic(Account a) {
    return basic(a.username(), PASSWORD);
  }

  private static String basic(String user, String password) {
    return "Basic "
        + Base64.getEncoder()
            .encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
  }

  private static int status(ApiTestApp on, String key) throws Exception {
    return on.get("/v1/api-keys", "X-API-Key", key).statusCode();
  }

  @Test
  void listShowsPrefixesOnlyWithAKeyOrBasic() throws Exception {
    Account a = newAccount();
    for (var auth :
        List.of(new String[] {"X-API-Key", a.key()}, new String[] {"Authorization", basic(a)})) {
      var r = app.get("/v1/api-keys", auth);
      assertThat(r.statusCode()).isEqualTo(200);
      JsonNode data = ApiTestApp.json(r).path("data");
      assertThat(data).hasSize(1);
      assertThat(data.get(0).path("prefix").asText()).isEqualTo(a.key().substring(0, 12));
      assertThat(data.get(0).has("key")).isFalse();
      assertThat(r.body()).doesNotContain(a.key());
      assertThat(data.get(0).has("last_used_at")).isTrue();
      assertThat(data.get(0).path("revoked_at").isNull()).isTrue();
    }
  }

  @Test
  void lastUsedIsRecordedByTheBatchedFlush() throws Exception {
    Account a = newAccount();
    for (int i = 0; i < 20; i++) {
      status(i % 2 == 0 ? app : second, a.key());
    }
    long end = System.nanoTime() + 5_000_000_000L;
    JsonNode key;
    do {
      Thread.sleep(100);
      key = ApiTestApp.json(app.get("/v1/api-keys", "X-API-Key", a.key())).path("data").get(0);
    } while (key.path("last_used_at").isNull() && System.nanoTime() < end);
    assertThat(key.path("last_used_at").asText()).endsWith("Z");
  }

  @Test
  void creatingAKeyTakesThePasswordAndShowsTheKeyOnce() throws Exception {
    Account a = newAccount();
    var created =
        app.postJson(
            "/v1/api-keys",
            "{\"name\":\"ci\",\"expires_in_seconds\":3600}",
            "Authorization",
            basic(a));
    assertThat(created.statusCode()).isEqualTo(201);
    JsonNode k = ApiTestApp.json(created);
    issuedSecrets.add(k.path("key").asText());
    assertThat(k.path("name").asText()).isEqualTo("ci");
    assertThat(k.path("expires_at").asText()).isNotEmpty();
    assertThat(status(app, k.path("key").asText())).isEqualTo(200);

    // A key cannot mint keys; a wrong password is 401; bad fields are 400
    var keyInsteadOfPassword = app.postJson("/v1/api-keys", "{}", "X-API-Key", a.key());
    assertProblem(keyInsteadOfPassword, 401, "invalid_credentials");
    // 401 names the scheme that would work
    assertThat(keyInsteadOfPassword.headers().firstValue("WWW-Authenticate").orElse(""))
        .startsWith("Basic realm=");
    assertThat(app.get("/v1/jobs/x").headers().firstValue("WWW-Authenticate").orElse(""))
        .startsWith("Bearer realm=");
    assertProblem(
        app.postJson("/v1/api-keys", "{}", "Authorization", basic(a.username(), "wrong password")),
        401,
        "invalid_credentials");
    assertProblem(
        app.postJson("/v1/api-keys", "{\"expires_in_seconds\":5}", "Authorization", basic(a)),
        400,
        "validation_failed");
    assertProblem(
        app.postJson(
            "/v1/api-keys", "{\"name\":\"" + "n".repeat(65) + "\"}", "Authorization", basic(a)),
        400,
        "validation_failed");
  }

  @Test
  void rotationWithoutGraceStopsOldKeysAtOnceOnEveryInstance() throws Exception {
    Account a = newAccount();
    assertThat(status(second, a.key())).isEqualTo(200); // warm the other instance's cache
    var r = app.postJson("/v1/api-keys/rotate", "{}", "Authorization", basic(a));
    assertThat(r.statusCode()).isEqualTo(201);
    String fresh = ApiTestApp.json(r).path("key").asText();
    issuedSecrets.add(fresh);
    assertThat(status(app, fresh)).isEqualTo(200);
    assertThat(status(app, a.key())).isEqualTo(401);
    assertThat(awaitRejected(second, a.key())).isLessThan(1_000);
  }

  @Test
  void rotationWithGraceKeepsTheOldKeyWorkingUntilItEnds() throws Exception {
    Account a = newAccount();
    var r = app.postJson("/v1/api-keys/rotate", "{\"grace_seconds\":2}", "Authorization", basic(a));
    String fresh = ApiTestApp.json(r).path("key").asText();
    issuedSecrets.add(fresh);
    assertThat(status(app, a.key())).isEqualTo(200);
    assertThat(status(app, fresh)).isEqualTo(200);
    assertThat(status(second, a.key())).isEqualTo(200);
    Thread.sleep(2_100);
    assertThat(status(app, a.key())).isEqualTo(401);
    // Expiry needs no invalidation: every instance compares the cached expiry with its clock.
    assertThat(status(second, a.key())).isEqualTo(401);
    assertThat(status(app, fresh)).isEqualTo(200);
    assertProblem(
        app.postJson("/v1/api-keys/rotate", "{\"grace_seconds\":-1}", "Authorization", basic(a)),
        400,
        "validation_failed");
  }

  @Test
  void aRevokedKeyFailsOnAnotherInstanceWithinOneSecond() throws Exception {
    Account a = newAccount();
    String id =
        ApiTestApp.json(app.get("/v1/api-keys", "X-API-Key", a.key()))
            .path("data")
            .get(0)
            .path("id")
            .asText();
    assertThat(status(second, a.key())).isEqualTo(200);

    // A key can revoke itself (so a leaked key can be killed with itself)
    assertThat(
            app.send("DELETE", "/v1/api-keys/" + id, null, null, "X-API-Key", a.key()).statusCode())
        .isEqualTo(204);
    long elapsed = awaitRejected(second, a.key());
    assertThat(elapsed).isLessThan(1_000);
    assertProblem(app.get("/v1/api-keys", "X-API-Key", a.key()), 401, "invalid_api_key");
  }

  @Test
  void anotherAccountsKeyCannotBeRevoked() throws Exception {
    Account a = newAccount();
    Account b = newAccount();
    String bKey =
        ApiTestApp.json(app.get("/v1/api-keys", "X-API-Key", b.key()))
            .path("data")
            .get(0)
            .path("id")
            .asText();
    assertProblem(
        app.send("DELETE", "/v1/api-keys/" + bKey, null, null, "X-API-Key", a.key()),
        404,
        "not_found");
    assertThat(status(app, b.key())).isEqualTo(200);
  }

  @Test
  void closingAnAccountRevokesKeysErasesJobContentAndKeepsUsage() throws Exception {
    Account a = newAccount();
    var job =
        app.postJson(
            "/v1/jobs",
            "{\"type\":\"text\",\"input\":{\"prompt\":\"private words\"}}",
            "X-API-Key",
            a.key());
    String jobId = ApiTestApp.json(job).path("id").asText();
    try (Connection c = DriverManager.getConnection(jdbcUrl, "postgres", "");
        Statement s = c.createStatement()) {
      s.execute(
          "UPDATE jobs SET status='succeeded', input_tokens=3, output_tokens=4, output='{\"text\":\"secret reply\"}' WHERE id='"
              + jobId
              + "'");
    }

    assertProblem(
        app.send("DELETE", "/v1/accounts/me", null, null, "X-API-Key", a.key()),
        401,
        "invalid_credentials");
    assertThat(
            app.send("DELETE", "/v1/accounts/me", null, null, "Authorization", basic(a))
                .statusCode())
        .isEqualTo(204);

    assertThat(status(app, a.key())).isEqualTo(401);
    assertThat(awaitRejected(second, a.key())).isLessThan(1_000);
    assertThat(app.get("/v1/api-keys", "Authorization", basic(a)).statusCode()).isEqualTo(401);
    try (Connection c = DriverManager.getConnection(jdbcUrl, "postgres", "");
        Statement s = c.createStatement();
        ResultSet rs =
            s.executeQuery(
                "SELECT input, output, input_tokens, output_tokens, status FROM jobs WHERE id='"
                    + jobId
                    + "'")) {
      assertThat(rs.next()).isTrue();
      assertThat(rs.getString(1)).isNull();
      assertThat(rs.getString(2)).isNull();
      assertThat(rs.getInt(3)).isEqualTo(3);
      assertThat(rs.getInt(4)).isEqualTo(4);
      assertThat(rs.getString(5)).isEqualTo("succeeded");
    }
    // The username is free again
    var again =
        app.postJson(
            "/v1/accounts",
            "{\"username\":\""
                + a.username()
                + "\",\"email\":\"n@example.com\",\"password\":\""
                + PASSWORD
                + "\"}");
    assertThat(again.statusCode()).isEqualTo(201);
    issuedSecrets.add(ApiTestApp.json(again).path("api_key").path("key").asText());
  }

  @Test
  void theWebhookSecretCanBeReadAndRotatedWithAKey() throws Exception {
    Account a = newAccount();
    String first =
        ApiTestApp.json(app.get("/v1/webhook-secret", "X-API-Key", a.key()))
            .path("webhook_secret")
            .asText();
    assertThat(first).startsWith("whsec_");
    var rotated = app.send("POST", "/v1/webhook-secret/rotate", null, null, "X-API-Key", a.key());
    assertThat(rotated.statusCode()).isEqualTo(200);
    String next = ApiTestApp.json(rotated).path("webhook_secret").asText();
    issuedSecrets.add(next);
    assertThat(next).startsWith("whsec_").isNotEqualTo(first);
    assertThat(
            ApiTestApp.json(app.get("/v1/webhook-secret", "X-API-Key", a.key()))
                .path("webhook_secret")
                .asText())
        .isEqualTo(next);
    assertProblem(app.get("/v1/webhook-secret"), 401, "invalid_api_key");
  }

  @Test
  void seedRoutesRegisterRotateAndDeleteWithJsonBodies() throws Exception {
    String user = "seed" + UUID.randomUUID().toString().substring(0, 8);
    var reg =
        app.postJson(
            "/register", "{\"username\":\"" + user + "\",\"password\":\"" + PASSWORD + "\"}");
    assertThat(reg.statusCode()).isEqualTo(201);
    String key = ApiTestApp.json(reg).path("api_key").asText();
    issuedSecrets.add(key);
    assertThat(status(app, key)).isEqualTo(200);

    var rot =
        app.postJson(
            "/rotate_api_key", "{\"username\":\"" + user + "\",\"password\":\"" + PASSWORD + "\"}");
    assertThat(rot.statusCode()).isEqualTo(200);
    String fresh = ApiTestApp.json(rot).path("api_key").asText();
    issuedSecrets.add(fresh);
    assertThat(status(app, key)).isEqualTo(401);
    assertThat(status(app, fresh)).isEqualTo(200);

    assertProblem(
        app.postJson(
            "/rotate_api_key", "{\"username\":\"" + user + "\",\"password\":\"wrong one\"}"),
        401,
        "invalid_credentials");
    assertProblem(
        app.postJson(
            "/register", "{\"username\":\"" + user + "\",\"password\":\"" + PASSWORD + "\"}"),
        409,
        "conflict");
    assertProblem(
        app.postJson("/register", "{\"username\":\"x" + user + "\",\"password\":\"short\"}"),
        400,
        "validation_failed");

    var del =
        app.postJson(
            "/delete_account", "{\"username\":\"" + user + "\",\"password\":\"" + PASSWORD + "\"}");
    assertThat(del.statusCode()).isEqualTo(200);
    assertThat(ApiTestApp.json(del).path("detail").asText()).isEqualTo("Account deleted");
    assertThat(status(app, fresh)).isEqualTo(401);
    assertProblem(
        app.postJson("/predict", "{\"text\":\"hi\"}", "X-API-Key", fresh), 401, "invalid_api_key");
    assertProblem(
        app.postJson("/predict", "{}", "X-API-Key", newAccount().key()), 400, "validation_failed");
  }

  @Test
  void theDatabaseHoldsNoUsableKeyPasswordOrPlainCredential() throws Exception {
    newAccount();
    StringBuilder dump = new StringBuilder();
    try (Connection c = DriverManager.getConnection(jdbcUrl, "postgres", "");
        Statement s = c.createStatement()) {
      for (String table : List.of("accounts", "api_keys", "jobs", "outbox")) {
        try (ResultSet rs = s.executeQuery("SELECT t::text FROM " + table + " t")) {
          while (rs.next()) {
            dump.append(rs.getString(1)).append('\n');
          }
        }
      }
    }
    String all = dump.toString();
    assertThat(all).doesNotContain(PASSWORD);
    for (String secret : issuedSecrets) {
      if (secret.startsWith("kx_live_")) {
        assertThat(all).doesNotContain(secret).doesNotContain(secret.substring(12));
      }
    }
  }

  /** Milliseconds until the key is refused on that instance. */
  private static long awaitRejected(ApiTestApp on, String key) throws Exception {
    long t0 = System.nanoTime();
    while (status(on, key) != 401) {
      if (System.nanoTime() - t0 > 5_000_000_000L) {
        throw new AssertionError("key still accepted after 5 s");
      }
      Thread.sleep(20);
    }
    return (System.nanoTime() - t0) / 1_000_000;
  }
}
