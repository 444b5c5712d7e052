package com.kosmosx.api;

import static com.kosmosx.api.ApiServiceIT.assertProblem;
import static org.assertj.core.api.Assertions.assertThat;

import com.kosmosx.platform.SharedPlatform;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Base64;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Limits shared by several API instances through PostgreSQL. */
class RateLimitIT {
  private static final String JOB =
      "{\"type\":\"text\",\"input\":{\"prompt\":\"hi\",\"max_tokens\":1}}";
  private static ApiTestApp a;
  private static ApiTestApp b;
  private static final String ADMIN = "kx_live_ratelimit_it_bootstrap_admin_key_0123456";
  private static ApiTestApp strict;
  private static String strictKey;
  private static String db;

  @BeforeAll
  static void start() throws Exception {
    db = SharedPlatform.freshDatabase("ratelimit_it");
    ApiTestApp.Setting[] shared = {
      ApiTestApp.setting("rateLimits.jobSubmissionsPerMinute", "40"),
      ApiTestApp.setting("rateLimits.maxUnfinishedJobs", "100000"),
      ApiTestApp.setting("rateLimits.failedPasswordsPerAddress", "20"),
      // The relay would publish to Kafka; these tests only count admissions.
      ApiTestApp.setting("outbox.relayEnabled", "false")
    };
    a = new ApiTestApp("config.yml", db, shared).start();
    b = new ApiTestApp("config.yml", db, shared).start();
    strict =
        new ApiTestApp(
                "config.yml",
                SharedPlatform.freshDatabase("ratelimit_strict"),
                ApiTestApp.setting("rateLimits.maxUnfinishedJobs", "3"),
                ApiTestApp.setting("rateLimits.signupsPerAddressPerHour", "4"),
                ApiTestApp.setting("outbox.relayEnabled", "false"))
            .start();
    strictKey = strict.newAccountKey("pj" + UUID.randomUUID().toString().substring(0, 8));
  }

  @AfterAll
  static void stop() {
    strict.close();
    b.close();
    a.close();
  }

  @Test
  void theSubmissionLimitFollowsTheAccountsPlan() throws Exception {
    try (ApiTestApp plans =
        new ApiTestApp(
                "config.yml",
                SharedPlatform.freshDatabase("ratelimit_plans"),
                ApiTestApp.setting("rateLimits.jobSubmissionsPerMinute", "100"),
                ApiTestApp.setting("rateLimits.dedicatedJobSubmissionsPerMinute", "250"),
                ApiTestApp.setting("auth.bootstrapAdminKey", ADMIN),
                ApiTestApp.setting("outbox.relayEnabled", "false"))
            .start()) {
      limitsFollowPlans(plans);
    }
  }

  private static void limitsFollowPlans(ApiTestApp strict) throws Exception {
    String payg = strict.newAccountKey("pg" + UUID.randomUUID().toString().substring(0, 8));
    String ded = strict.newAccountKey("dd" + UUID.randomUUID().toString().substring(0, 8));
    // A refused submission still identifies the account: read it from the database.
    strict.postJson("/v1/jobs", JOB, "X-API-Key", ded);
    String account;
    try (var c = java.sql.DriverManager.getConnection(strict.jdbcUrl(), "postgres", "");
        var rs =
            c.createStatement()
                .executeQuery(
                    "SELECT a.id FROM accounts a JOIN api_keys k ON k.account_id = a.id "
                        + "ORDER BY k.created_at DESC LIMIT 1")) {
      rs.next();
      account = rs.getString(1);
    }
    String month = java.time.LocalDate.now(java.time.ZoneOffset.UTC).withDayOfMonth(1).toString();
    var plan =
        strict.send(
            "PUT",
            "/v1/admin/accounts/" + account + "/plan",
            "application/json",
            "{\"text\":{\"plan\":\"dedicated\",\"effective_from\":\"" + month + "\"}}",
            "X-API-Key",
            ADMIN);
    assertThat(plan.statusCode()).as(plan.body()).isEqualTo(200);
    Thread.sleep(5_500); // the per-account plan cache
    var p = strict.get("/v1/ping", "X-API-Key", payg);
    var d = strict.get("/v1/ping", "X-API-Key", ded);
    assertThat(p.headers().firstValue("RateLimit-Limit")).hasValue("100");
    assertThat(d.headers().firstValue("RateLimit-Limit")).hasValue("250");
  }

  @Test
  void twoInstancesEnforceOneSharedSubmissionLimit() throws Exception {
    String key = a.newAccountKey("rl" + UUID.randomUUID().toString().substring(0, 8));
    // Stay inside one one-minute window.
    while (Instant.now().getEpochSecond() % 60 > 30) {
      Thread.sleep(500);
    }
    int accepted = 0;
    HttpResponse<String> limited = null;
    for (int i = 0; i < 100; i++) {
      var r = (i % 2 == 0 ? a : b).postJson("/v1/jobs", JOB, "X-API-Key", key);
      if (r.statusCode() == 202) {
        accepted++;
      } else {
        limited = r;
      }
    }
    System.out.printf(
        "shared limit 40/min, 100 submissions over 2 instances: %d accepted%n", accepted);
    assertThat(accepted).isBetween(38, 42);
    assertProblem(limited, 429, "rate_limited");
    long retryAfter = Long.parseLong(limited.headers().firstValue("Retry-After").orElseThrow());
    assertThat(retryAfter).isBetween(1L, 60L);
    assertThat(limited.headers().firstValue("RateLimit-Remaining")).hasValue("0");
    assertThat(limited.headers().firstValue("RateLimit-Limit")).hasValue("40");
    // The counters are scratch data: unlogged, so counting a hit writes no WAL (migration 7).
    try (var c = java.sql.DriverManager.getConnection(a.jdbcUrl(), "postgres", "");
        var rs =
            c.createStatement()
                .executeQuery(
                    "SELECT relpersistence FROM pg_class WHERE relname = 'rate_limits'")) {
      assertThat(rs.next()).isTrue();
      assertThat(rs.getString(1)).isEqualTo("u");
    }
  }

  @Test
  void everyAuthenticatedAnswerCarriesRateLimitHeaders() throws Exception {
    String key = a.newAccountKey("hd" + UUID.randomUUID().toString().substring(0, 8));
    var submitted = a.postJson("/v1/jobs", JOB, "X-API-Key", key);
    String id = ApiTestApp.json(submitted).path("id").asText();
    for (var r :
        new HttpResponse[] {
          submitted,
          a.get("/v1/jobs/" + id, "X-API-Key", key),
          b.get("/v1/jobs/job_unknown", "X-API-Key", key),
          b.get("/v1/api-keys", "Authorization", "Bearer " + key)
        }) {
      assertThat(r.headers().firstValue("RateLimit-Limit")).hasValue("40");
      int remaining =
          Integer.parseInt(r.headers().firstValue("RateLimit-Remaining").orElseThrow().toString());
      assertThat(remaining).isBetween(0, 39);
      int reset =
          Integer.parseInt(r.headers().firstValue("RateLimit-Reset").orElseThrow().toString());
      assertThat(reset).isBetween(1, 60);
    }
    assertThat(a.get("/v1/jobs/x").headers().firstValue("RateLimit-Limit")).isEmpty();
  }

  @Test
  void aThousandWrongPasswordsFromOneAddressAreThrottled() throws Exception {
    String user = "bf" + UUID.randomUUID().toString().substring(0, 8);
    a.newAccountKey(user);
    String wrong =
        "Basic "
            + Base64.getEncoder()
                .encodeToString((user + ":not the password").getBytes(StandardCharsets.UTF_8));
    int unauthorized = 0;
    int throttled = 0;
    long t0 = System.nanoTime();
    for (int i = 0; i < 1000; i++) {
      var r = (i % 2 == 0 ? a : b).get("/v1/api-keys", "Authorization", wrong);
      if (r.statusCode() == 401) {
        unauthorized++;
      } else if (r.statusCode() == 429) {
        throttled++;
        assertThat(r.headers().firstValue("Retry-After")).isPresent();
      }
    }
    System.out.printf(
        "1000 wrong passwords: %d checked (401), %d throttled (429) in %d ms%n",
        unauthorized, throttled, (System.nanoTime() - t0) / 1_000_000);
    assertThat(unauthorized).isEqualTo(20);
    assertThat(throttled).isEqualTo(980);
    // Counted per real client address (the socket peer), not under a catch-all bucket.
    try (var c = java.sql.DriverManager.getConnection(db, "postgres", "");
        var st = c.createStatement();
        var rs = st.executeQuery("SELECT bucket FROM rate_limits WHERE bucket LIKE 'pwfail:%'")) {
      assertThat(rs.next()).isTrue();
      assertThat(rs.getString(1)).isIn("pwfail:ip:127.0.0.1", "pwfail:ip:0:0:0:0:0:0:0:1");
    }
  }

  @Test
  void anAccountCannotPileUpUnfinishedJobs() throws Exception {
    String key = strictKey;
    for (int i = 0; i < 3; i++) {
      assertThat(strict.postJson("/v1/jobs", JOB, "X-API-Key", key).statusCode()).isEqualTo(202);
    }
    var r = strict.postJson("/v1/jobs", JOB, "X-API-Key", key);
    assertProblem(r, 429, "too_many_pending_jobs");
    assertThat(r.headers().firstValue("Retry-After")).isPresent();
  }

  /**
   * The cap holds exactly when one account's submissions race on two instances: the account's lock
   * is taken inside the one submit call (migration 12), so no two admissions count the same rows.
   */
  @Test
  void theUnfinishedCapIsExactUnderConcurrentSubmissionsOnTwoInstances() throws Exception {
    String capped = SharedPlatform.freshDatabase("ratelimit_cap_race");
    ApiTestApp.Setting[] cap = {
      ApiTestApp.setting("rateLimits.maxUnfinishedJobs", "5"),
      ApiTestApp.setting("outbox.relayEnabled", "false")
    };
    try (ApiTestApp one = new ApiTestApp("config.yml", capped, cap).start();
        ApiTestApp two = new ApiTestApp("config.yml", capped, cap).start()) {
      String account = "cr" + UUID.randomUUID().toString().substring(0, 8);
      String key = one.newAccountKey(account);
      var pool = java.util.concurrent.Executors.newFixedThreadPool(16);
      List<java.util.concurrent.Future<Integer>> answers = new java.util.ArrayList<>();
      for (int i = 0; i < 40; i++) {
        ApiTestApp app = i % 2 == 0 ? one : two;
        answers.add(
            pool.submit(() -> app.postJson("/v1/jobs", JOB, "X-API-Key", key).statusCode()));
      }
      List<Integer> codes = new java.util.ArrayList<>();
      for (var f : answers) {
        codes.add(f.get(60, java.util.concurrent.TimeUnit.SECONDS));
      }
      pool.shutdown();
      assertThat(codes.stream().filter(c -> c == 202).count()).isEqualTo(5);
      assertThat(codes.stream().filter(c -> c == 429).count()).isEqualTo(35);
      try (var c = java.sql.DriverManager.getConnection(capped, "postgres", "");
          var st = c.createStatement();
          var rs =
              st.executeQuery(
                  "SELECT (SELECT count(*) FROM jobs), (SELECT count(*) FROM outbox"
                      + " WHERE topic LIKE 'kosmos.jobs.%')")) {
        rs.next();
        assertThat(rs.getInt(1)).as("job rows").isEqualTo(5);
        assertThat(rs.getInt(2)).as("outbox messages, one per job").isEqualTo(5);
      }
    }
  }

  @Test
  void signUpsFromOneAddressAreLimited() throws Exception {
    int created = 0;
    HttpResponse<String> last = null;
    for (int i = 0; i < 6; i++) {
      String user = "su" + UUID.randomUUID().toString().substring(0, 8);
      last =
          strict.postJson(
              "/v1/accounts",
              "{\"username\":\""
                  + user
                  + "\",\"email\":\"s@example.com\",\"password\":\"long enough pw\"}");
      if (last.statusCode() == 201) {
        created++;
      }
    }
    // One of the 4 allowed sign-ups was spent in setUp.
    assertThat(created).isEqualTo(3);
    assertProblem(last, 429, "rate_limited");
    assertProblem(
        strict.postJson("/register", "{\"username\":\"zz\",\"password\":\"long enough\"}"),
        429,
        "rate_limited");
  }
}
