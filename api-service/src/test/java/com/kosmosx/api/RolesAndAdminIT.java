package com.kosmosx.api;

import static com.kosmosx.api.ApiServiceIT.assertProblem;
import static org.assertj.core.api.Assertions.assertThat;

import com.kosmosx.platform.SharedPlatform;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Roles (401 / 403 / 404), the bootstrap admin key and the create-admin command. */
class RolesAndAdminIT {
  private static final String BOOTSTRAP = "kx_live_bootstrap_admin_key_for_tests_0123456789";
  private static String jdbcUrl;
  private static ApiTestApp app;

  @BeforeAll
  static void start() throws Exception {
    jdbcUrl = SharedPlatform.freshDatabase("roles_it");
    app =
        new ApiTestApp(
                "config.yml", jdbcUrl, ApiTestApp.setting("auth.bootstrapAdminKey", BOOTSTRAP))
            .start();
  }

  @AfterAll
  static void stop() {
    app.close();
  }

  private static String accountId(String key) throws Exception {
    // The account id is not in the key list; read it from a job, which every key can create.
    var job =
        app.postJson(
            "/v1/jobs", "{\"type\":\"text\",\"input\":{\"prompt\":\"x\"}}", "X-API-Key", key);
    String id = ApiTestApp.json(job).path("id").asText();
    try (var c = java.sql.DriverManager.getConnection(jdbcUrl, "postgres", "");
        var s = c.prepareStatement("SELECT account_id FROM jobs WHERE id = ?")) {
      s.setString(1, id);
      try (var rs = s.executeQuery()) {
        rs.next();
        return rs.getString(1);
      }
    }
  }

  @Test
  void anAdminSetsPlansFromAMonthStartAndDedicatedJobsTakeTheirLane() throws Exception {
    String user = app.newAccountKey("plan" + UUID.randomUUID().toString().substring(0, 8));
    String target = accountId(user);
    String path = "/v1/admin/accounts/" + target + "/plan";
    java.time.LocalDate month = java.time.LocalDate.now(java.time.ZoneOffset.UTC).withDayOfMonth(1);

    assertProblem(
        app.send(
            "PUT",
            path,
            "application/json",
            "{\"text\":{\"plan\":\"dedicated\"}}",
            "X-API-Key",
            user),
        403,
        "forbidden");
    for (String bad :
        List.of(
            "{\"text\":{\"plan\":\"gold\"}}",
            "{\"video\":{\"plan\":\"payg\"}}",
            "{\"text\":{\"plan\":\"payg\",\"lane\":\"x\"}}",
            "{\"text\":{\"plan\":\"dedicated\",\"lane\":\"shared\"}}",
            "{\"text\":{\"plan\":\"dedicated\",\"lane\":\"Bad Lane\"}}",
            "{\"text\":{\"plan\":\"dedicated\",\"effective_from\":\"" + month.plusDays(1) + "\"}}",
            "{\"text\":{\"plan\":\"dedicated\",\"effective_from\":\""
                + month.minusMonths(1)
                + "\"}}",
            "{\"text\":{\"plan\":\"dedicated\",\"effective_from\":\"soon\"}}",
            "{}")) {
      assertProblem(
          app.send("PUT", path, "application/json", bad, "X-API-Key", BOOTSTRAP),
          400,
          "validation_failed");
    }
    assertProblem(
        app.send(
            "PUT",
            "/v1/admin/accounts/acc_nobody/plan",
            "application/json",
            "{\"text\":{\"plan\":\"payg\"}}",
            "X-API-Key",
            BOOTSTRAP),
        404,
        "not_found");

    // From next month by default: today's jobs still run on the shared lane.
    var later =
        app.send(
            "PUT",
            path,
            "application/json",
            "{\"image\":{\"plan\":\"dedicated\"}}",
            "X-API-Key",
            BOOTSTRAP);
    assertThat(later.statusCode()).as(later.body()).isEqualTo(200);
    var plans = ApiTestApp.json(later);
    assertThat(plans.path("current").path("image").path("plan").asText()).isEqualTo("payg");
    assertThat(plans.path("schedule").get(0).path("effective_from").asText())
        .isEqualTo(month.plusMonths(1).toString());

    // From this month: new text jobs go to the dedicated lane's topic.
    var now =
        app.send(
            "PUT",
            path,
            "application/json",
            "{\"text\":{\"plan\":\"dedicated\",\"lane\":\"acme\",\"effective_from\":\""
                + month
                + "\"}}",
            "X-API-Key",
            BOOTSTRAP);
    assertThat(now.statusCode()).as(now.body()).isEqualTo(200);
    assertThat(ApiTestApp.json(now).path("current").path("text").path("lane").asText())
        .isEqualTo("acme");
    String job =
        ApiTestApp.json(
                app.postJson(
                    "/v1/jobs",
                    "{\"type\":\"text\",\"input\":{\"prompt\":\"x\"}}",
                    "X-API-Key",
                    user))
            .path("id")
            .asText();
    try (var c = java.sql.DriverManager.getConnection(jdbcUrl, "postgres", "");
        var s = c.prepareStatement("SELECT lane FROM jobs WHERE id = ?")) {
      s.setString(1, job);
      try (var rs = s.executeQuery()) {
        rs.next();
        assertThat(rs.getString(1)).isEqualTo("acme");
      }
    }
    // The whole schedule went to the accounts topic.
    var props = new java.util.Properties();
    props.put("bootstrap.servers", com.kosmosx.platform.SharedPlatform.kafka().bootstrapServers());
    props.put("group.id", "it-" + UUID.randomUUID());
    props.put("auto.offset.reset", "earliest");
    com.kosmosx.contracts.AccountPlan published = null;
    try (var consumer =
        new org.apache.kafka.clients.consumer.KafkaConsumer<>(
            props,
            new org.apache.kafka.common.serialization.StringDeserializer(),
            new org.apache.kafka.common.serialization.ByteArrayDeserializer())) {
      consumer.subscribe(List.of(com.kosmosx.contracts.Topics.ACCOUNTS.name()));
      long end = System.nanoTime() + java.time.Duration.ofSeconds(15).toNanos();
      while (System.nanoTime() < end && (published == null || published.schedule().size() < 2)) {
        for (var r : consumer.poll(java.time.Duration.ofMillis(200))) {
          if (target.equals(r.key())) {
            published = com.kosmosx.contracts.Topics.ACCOUNTS.deserializeValue(r.value());
          }
        }
      }
    }
    assertThat(published).isNotNull();
    assertThat(published.schedule()).hasSize(2);
    assertThat(published.lane()).isEqualTo("acme");
  }

  @Test
  void onlyAnAdminChangesRolesAndTheBootstrapKeyIsOne() throws Exception {
    String user = app.newAccountKey("role" + UUID.randomUUID().toString().substring(0, 8));
    String target = accountId(user);
    String body = "{\"role\":\"finance\"}";

    assertProblem(
        app.send("PUT", "/v1/admin/accounts/" + target + "/role", "application/json", body),
        401,
        "invalid_api_key");
    assertProblem(
        app.send(
            "PUT",
            "/v1/admin/accounts/" + target + "/role",
            "application/json",
            body,
            "X-API-Key",
            user),
        403,
        "forbidden");

    var ok =
        app.send(
            "PUT",
            "/v1/admin/accounts/" + target + "/role",
            "application/json",
            body,
            "X-API-Key",
            BOOTSTRAP);
    assertThat(ok.statusCode()).isEqualTo(200);
    assertThat(ApiTestApp.json(ok).path("role").asText()).isEqualTo("finance");

    assertProblem(
        app.send(
            "PUT",
            "/v1/admin/accounts/acc_nobody/role",
            "application/json",
            body,
            "X-API-Key",
            BOOTSTRAP),
        404,
        "not_found");
    assertProblem(
        app.send(
            "PUT",
            "/v1/admin/accounts/" + target + "/role",
            "application/json",
            "{\"role\":\"god\"}",
            "X-API-Key",
            BOOTSTRAP),
        400,
        "validation_failed");
    // A finance account is still not an admin
    assertProblem(
        app.send(
            "PUT",
            "/v1/admin/accounts/" + target + "/role",
            "application/json",
            body,
            "X-API-Key",
            user),
        403,
        "forbidden");
  }

  @Test
  void theBootstrapKeyIsIdempotentAcrossRestarts() throws Exception {
    try (ApiTestApp again =
        new ApiTestApp(
                "config.yml", jdbcUrl, ApiTestApp.setting("auth.bootstrapAdminKey", BOOTSTRAP))
            .start()) {
      assertThat(again.get("/v1/ping", "Authorization", "Bearer " + BOOTSTRAP).statusCode())
          .isEqualTo(200);
    }
    try (var c = java.sql.DriverManager.getConnection(jdbcUrl, "postgres", "");
        var s = c.createStatement();
        var rs =
            s.executeQuery(
                "SELECT count(*) FROM accounts WHERE role = 'admin' AND username = 'admin'")) {
      rs.next();
      assertThat(rs.getInt(1)).isEqualTo(1);
    }
  }

  @Test
  void createAdminCommandMakesAnAdminWhoseKeyIsPrintedOnce() throws Exception {
    String user = "ops" + UUID.randomUUID().toString().substring(0, 6);
    Process p =
        command(
            List.of("create-admin", "--username", user, "--email", "ops@example.com", "config.yml"),
            Map.of("KOSMOS_ADMIN_PASSWORD", "a long admin password"));
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(out).isZero();
    String key = out.replaceAll("(?s).*API key \\(shown once\\): (kx_live_[A-Za-z0-9]+).*", "$1");
    assertThat(key).startsWith("kx_live_");
    String target =
        accountId(app.newAccountKey("t" + UUID.randomUUID().toString().substring(0, 8)));
    assertThat(
            app.send(
                    "PUT",
                    "/v1/admin/accounts/" + target + "/role",
                    "application/json",
                    "{\"role\":\"user\"}",
                    "X-API-Key",
                    key)
                .statusCode())
        .isEqualTo(200);

    // Without a password it refuses (and never takes one on the command line)
    Process refused =
        command(
            List.of(
                "create-admin", "--username", user + "x", "--email", "o@example.com", "config.yml"),
            Map.of());
    refused.getInputStream().readAllBytes();
    assertThat(refused.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(refused.exitValue()).isNotZero();
  }

  private static Process command(List<String> args, Map<String, String> env) throws Exception {
    List<String> cmd =
        new java.util.ArrayList<>(
            List.of(
                java.nio.file.Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp",
                System.getProperty("java.class.path"),
                "com.kosmosx.api.ApiApplication"));
    cmd.addAll(args);
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    pb.environment().put("KOSMOS_DB_URL", jdbcUrl);
    pb.environment().put("KOSMOS_BCRYPT_COST", "4");
    pb.environment().remove("KOSMOS_ADMIN_PASSWORD");
    pb.environment().putAll(env);
    return pb.start();
  }
}
