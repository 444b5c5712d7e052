package com.kosmosx.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.kosmosx.platform.SharedPlatform;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A corpus of hostile or broken requests against every endpoint that takes a body: each answer must
 * be a 4xx problem+json with a code, never a 500 and never an echo of internals.
 */
class BadInputCorpusIT {
  private static ApiTestApp app;
  private static String key;
  private static String basic;

  private record Case(
      String name,
      String method,
      String path,
      String contentType,
      byte[] body,
      boolean chunked,
      String[] headers) {}

  @BeforeAll
  static void start() throws Exception {
    app = new ApiTestApp("config.yml", SharedPlatform.freshDatabase("corpus_it")).start();
    String user = "corpus" + UUID.randomUUID().toString().substring(0, 6);
    key = app.newAccountKey(user);
    basic =
        "Basic "
            + Base64.getEncoder()
                .encodeToString((user + ":correct horse battery").getBytes(StandardCharsets.UTF_8));
  }

  @AfterAll
  static void stop() {
    app.close();
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static String account(String username, String email, String password) {
    return "{\"username\":" + username + ",\"email\":" + email + ",\"password\":" + password + "}";
  }

  private static List<Case> corpus() {
    List<Case> c = new ArrayList<>();
    String json = "application/json";
    String[] none = {};
    String[] withKey = {"X-API-Key", key};
    String[] withBasic = {"Authorization", basic};
    // Account creation
    String acc = "/v1/accounts";
    c.add(new Case("accounts: malformed", "POST", acc, json, utf8("{\"username\":"), false, none));
    c.add(new Case("accounts: empty body", "POST", acc, json, new byte[0], false, none));
    c.add(new Case("accounts: null", "POST", acc, json, utf8("null"), false, none));
    c.add(new Case("accounts: array", "POST", acc, json, utf8("[]"), false, none));
    c.add(
        new Case(
            "accounts: number username",
            "POST",
            acc,
            json,
            utf8(account("5", "\"a@b.co\"", "\"password1\"")),
            false,
            none));
    c.add(
        new Case(
            "accounts: object password",
            "POST",
            acc,
            json,
            utf8(account("\"abcd\"", "\"a@b.co\"", "{}")),
            false,
            none));
    c.add(
        new Case(
            "accounts: huge username",
            "POST",
            acc,
            json,
            utf8(account("\"" + "u".repeat(10_000) + "\"", "\"a@b.co\"", "\"password1\"")),
            false,
            none));
    c.add(
        new Case(
            "accounts: huge email",
            "POST",
            acc,
            json,
            utf8(account("\"abcd\"", "\"" + "e".repeat(100_000) + "@b.co\"", "\"password1\"")),
            false,
            none));
    c.add(
        new Case(
            "accounts: NUL in username",
            "POST",
            acc,
            json,
            utf8(account("\"ab\\u0000cd\"", "\"a@b.co\"", "\"password1\"")),
            false,
            none));
    c.add(
        new Case(
            "accounts: bell in email",
            "POST",
            acc,
            json,
            utf8(account("\"abcd\"", "\"a\\u0007@b.co\"", "\"password1\"")),
            false,
            none));
    c.add(
        new Case(
            "accounts: newline in username",
            "POST",
            acc,
            json,
            utf8(account("\"ab\\ncd\"", "\"a@b.co\"", "\"password1\"")),
            false,
            none));
    c.add(
        new Case(
            "accounts: lone surrogate",
            "POST",
            acc,
            json,
            utf8(account("\"ab\\ud800cd\"", "\"a@b.co\"", "\"password1\"")),
            false,
            none));
    c.add(
        new Case(
            "accounts: RTL override",
            "POST",
            acc,
            json,
            utf8(account("\"ab\u202Ecd\"", "\"a@b.co\"", "\"password1\"")),
            false,
            none));
    c.add(
        new Case(
            "accounts: zero-width joiner",
            "POST",
            acc,
            json,
            utf8(account("\"ad\u200Dmin\"", "\"a@b.co\"", "\"password1\"")),
            false,
            none));
    c.add(
        new Case(
            "accounts: emoji username",
            "POST",
            acc,
            json,
            utf8(account("\"\uD83D\uDE80rocket\"", "\"a@b.co\"", "\"password1\"")),
            false,
            none));
    c.add(
        new Case(
            "accounts: invalid UTF-8 bytes",
            "POST",
            acc,
            json,
            new byte[] {'{', '"', 'u', '"', ':', '"', (byte) 0xC3, (byte) 0x28, '"', '}'},
            false,
            none));
    c.add(
        new Case(
            "accounts: overlong UTF-8",
            "POST",
            acc,
            json,
            new byte[] {
              '{',
              '"',
              'u',
              's',
              'e',
              'r',
              'n',
              'a',
              'm',
              'e',
              '"',
              ':',
              '"',
              (byte) 0xC0,
              (byte) 0xAF,
              '"',
              '}'
            },
            false,
            none));
    c.add(
        new Case(
            "accounts: SQL username",
            "POST",
            acc,
            json,
            utf8(account("\"x' OR '1'='1\"", "\"a@b.co\"", "\"password1\"")),
            false,
            none));
    c.add(
        new Case(
            "accounts: SQL email",
            "POST",
            acc,
            json,
            utf8(account("\"abcd\"", "\"a@b.co'; DROP TABLE accounts;--\"", "\"password1\"")),
            false,
            none));
    c.add(
        new Case(
            "accounts: 73-byte password",
            "POST",
            acc,
            json,
            utf8(account("\"abcd\"", "\"a@b.co\"", "\"" + "p".repeat(73) + "\"")),
            false,
            none));
    c.add(
        new Case(
            "accounts: unknown field",
            "POST",
            acc,
            json,
            utf8(
                "{\"username\":\"abcd\",\"email\":\"a@b.co\",\"password\":\"password1\",\"role\":\"admin\"}"),
            false,
            none));
    c.add(
        new Case(
            "accounts: text/plain", "POST", acc, "text/plain", utf8("username=abcd"), false, none));
    c.add(
        new Case(
            "accounts: form",
            "POST",
            acc,
            "application/x-www-form-urlencoded",
            utf8("username=abcd&password=x"),
            false,
            none));
    c.add(new Case("accounts: xml", "POST", acc, "application/xml", utf8("<a/>"), false, none));
    c.add(new Case("accounts: no content type", "POST", acc, null, utf8("{}"), false, none));
    c.add(
        new Case(
            "accounts: 2 MB chunked",
            "POST",
            acc,
            json,
            utf8("{\"username\":\"" + "a".repeat(2 * 1024 * 1024) + "\"}"),
            true,
            none));
    // Keys
    c.add(
        new Case(
            "keys: wrong type name",
            "POST",
            "/v1/api-keys",
            json,
            utf8("{\"name\":7}"),
            false,
            withBasic));
    c.add(
        new Case(
            "keys: control chars in name",
            "POST",
            "/v1/api-keys",
            json,
            utf8("{\"name\":\"a\\u0001b\"}"),
            false,
            withBasic));
    c.add(
        new Case(
            "keys: expiry as string",
            "POST",
            "/v1/api-keys",
            json,
            utf8("{\"expires_in_seconds\":\"3600\"}"),
            false,
            withBasic));
    c.add(
        new Case(
            "keys: expiry huge",
            "POST",
            "/v1/api-keys",
            json,
            utf8("{\"expires_in_seconds\":9223372036854775807}"),
            false,
            withBasic));
    c.add(
        new Case(
            "keys: expiry overflow",
            "POST",
            "/v1/api-keys",
            json,
            utf8("{\"expires_in_seconds\":99999999999999999999999}"),
            false,
            withBasic));
    c.add(
        new Case(
            "rotate: float grace",
            "POST",
            "/v1/api-keys/rotate",
            json,
            utf8("{\"grace_seconds\":1.5}"),
            false,
            withBasic));
    c.add(
        new Case(
            "rotate: negative grace",
            "POST",
            "/v1/api-keys/rotate",
            json,
            utf8("{\"grace_seconds\":-5}"),
            false,
            withBasic));
    c.add(
        new Case(
            "revoke: SQL id",
            "DELETE",
            "/v1/api-keys/x'%20OR%20'1'='1",
            null,
            new byte[0],
            false,
            withKey));
    c.add(
        new Case(
            "keys: bad basic header",
            "GET",
            "/v1/api-keys",
            null,
            new byte[0],
            false,
            new String[] {"Authorization", "Basic !!!notbase64"}));
    c.add(
        new Case(
            "keys: basic without colon",
            "GET",
            "/v1/api-keys",
            null,
            new byte[0],
            false,
            new String[] {
              "Authorization", "Basic " + Base64.getEncoder().encodeToString(utf8("nocolon"))
            }));
    c.add(
        new Case(
            "keys: huge bearer",
            "GET",
            "/v1/api-keys",
            null,
            new byte[0],
            false,
            new String[] {"Authorization", "Bearer " + "k".repeat(5000)}));
    // Seed routes
    c.add(
        new Case(
            "register: missing password",
            "POST",
            "/register",
            json,
            utf8("{\"username\":\"abcd\"}"),
            false,
            none));
    c.add(
        new Case(
            "register: query-string style",
            "POST",
            "/register?username=a&password=b",
            null,
            new byte[0],
            false,
            none));
    c.add(
        new Case(
            "rotate_api_key: array",
            "POST",
            "/rotate_api_key",
            json,
            utf8("[\"u\",\"p\"]"),
            false,
            none));
    c.add(
        new Case(
            "delete_account: null password",
            "POST",
            "/delete_account",
            json,
            utf8("{\"username\":\"abcd\",\"password\":null}"),
            false,
            none));
    c.add(
        new Case(
            "predict: text number",
            "POST",
            "/predict",
            json,
            utf8("{\"text\":42}"),
            false,
            withKey));
    c.add(
        new Case(
            "predict: empty text",
            "POST",
            "/predict",
            json,
            utf8("{\"text\":\"\"}"),
            false,
            withKey));
    // Jobs and admin
    c.add(
        new Case(
            "jobs: unicode escapes garbage",
            "POST",
            "/v1/jobs",
            json,
            utf8("{\"type\":\"text\",\"input\":{\"prompt\":\"\\uZZZZ\"}}"),
            false,
            withKey));
    c.add(
        new Case(
            "jobs: 1.1 MB prompt",
            "POST",
            "/v1/jobs",
            json,
            utf8("{\"type\":\"text\",\"input\":{\"prompt\":\"" + "x".repeat(1_100_000) + "\"}}"),
            false,
            withKey));
    c.add(
        new Case(
            "admin: user key",
            "PUT",
            "/v1/admin/accounts/x/role",
            json,
            utf8("{\"role\":\"admin\"}"),
            false,
            withKey));
    return c;
  }

  @Test
  void everyCaseIsAFourHundredProblemNeverAFiveHundred() throws Exception {
    List<Case> corpus = corpus();
    assertThat(corpus).hasSizeGreaterThanOrEqualTo(40);
    List<String> report = new ArrayList<>();
    for (Case c : corpus) {
      System.out.println("corpus case: " + c.name());
      HttpResponse<String> r =
          app.sendBytes(c.method(), c.path(), c.contentType(), c.body(), c.chunked(), c.headers());
      report.add(r.statusCode() + " " + c.name());
      assertThat(r.statusCode()).as(c.name() + ": " + r.body()).isBetween(400, 499);
      assertThat(r.headers().firstValue("Content-Type").orElse(""))
          .as(c.name())
          .startsWith("application/problem+json");
      JsonNode p = ApiTestApp.json(r);
      assertThat(p.path("code").asText()).as(c.name()).isNotEmpty();
      assertThat(r.body())
          .as(c.name())
          .doesNotContain("Exception")
          .doesNotContain("SQL")
          .doesNotContain("at com.");
    }
    System.out.println(
        "bad-input corpus (" + corpus.size() + " cases):\n  " + String.join("\n  ", report));
  }

  @Test
  void tenMegabyteBodiesAreRefusedByTheirLengthWithoutBeingRead() throws Exception {
    for (String path : List.of("/v1/accounts", "/register", "/predict")) {
      String[] r = app.oversizedPost(path, 10L * 1024 * 1024);
      assertThat(r[0]).as(path).startsWith("HTTP/1.1 413");
      assertThat(r[0].toLowerCase()).contains("content-type: application/problem+json");
      assertThat(r[1]).contains("\"code\":\"payload_too_large\"");
    }
    // The job endpoint takes images (20 MB, base64 in JSON): its limit is 28 MiB.
    for (String path : List.of("/v1/jobs")) {
      String[] r = app.oversizedPost(path, 40L * 1024 * 1024);
      assertThat(r[0].toLowerCase()).contains("connection: close");
      assertThat(r[0]).as(path).startsWith("HTTP/1.1 413");
      assertThat(r[0].toLowerCase()).contains("content-type: application/problem+json");
      assertThat(r[1]).contains("\"code\":\"payload_too_large\"");
    }
  }
}
