package com.kosmosx.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.kosmosx.api.resources.DocsResource;
import com.kosmosx.platform.SharedPlatform;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Malformed requests generated from {@code openapi.yaml} itself: for every operation, broken
 * credentials; for every path and query parameter, values its schema forbids (wrong types, out of
 * bounds, outside the enum, NUL, 5,000 characters, broken percent-encoding); for every request
 * body, broken JSON and, property by property, values its schema forbids (wrong types, null or
 * missing where required, past min/max/maxLength/maxItems, outside the enum or pattern, unknown
 * fields where additionalProperties is false). Sent over a raw socket, so bytes no HTTP client
 * would send arrive as written. Every answer must be a 4xx problem+json with a code: never a 5xx,
 * never a reset, never a 2xx.
 */
class GeneratedCorpusIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final JsonNodeFactory F = JsonNodeFactory.instance;
  private static final String ADMIN = "kx_live_generated_corpus_admin_key_012345";
  private static ApiTestApp app;
  private static String key;
  private static String basic;
  private static String accountId;
  private static String jobId;
  private static JsonNode spec;

  /** One generated request. */
  record Case(
      String name, String method, String target, Map<String, String> headers, byte[] body) {}

  /** Valid bodies to mutate, one per operation with a body (the schema says what is wrong). */
  private static Map<String, String> baselines() {
    Map<String, String> m = new LinkedHashMap<>();
    m.put(
        "POST /v1/accounts",
        "{\"username\":\"gen"
            + UUID.randomUUID().toString().substring(0, 8)
            + "\","
            + "\"email\":\"gen@example.com\",\"password\":\"correct horse battery\"}");
    m.put("POST /v1/api-keys", "{\"name\":\"k\",\"expires_in_seconds\":3600}");
    m.put("POST /v1/api-keys/rotate", "{\"grace_seconds\":0}");
    m.put(
        "POST /v1/jobs",
        "{\"type\":\"text\",\"input\":{\"prompt\":\"hi\",\"max_tokens\":3,\"temperature\":0,"
            + "\"top_p\":1,\"stop\":[\"x\"],\"seed\":1},\"metadata\":{\"a\":\"b\"},"
            + "\"webhook\":{\"url\":\"https://example.com/h\",\"events\":[\"completed\"]}}");
    m.put("PUT /v1/admin/accounts/{id}/plan", "{\"text\":{\"plan\":\"payg\"}}");
    m.put("PUT /v1/admin/accounts/{id}/role", "{\"role\":\"user\"}");
    m.put("POST /register", "{\"username\":\"seed\",\"password\":\"correct horse battery\"}");
    m.put("POST /rotate_api_key", "{\"username\":\"seed\",\"password\":\"wrong password!\"}");
    m.put("POST /delete_account", "{\"username\":\"seed\",\"password\":\"wrong password!\"}");
    m.put("POST /predict", "{\"text\":\"hi\"}");
    return m;
  }

  @BeforeAll
  static void start() throws Exception {
    app =
        new ApiTestApp(
                "config.yml",
                SharedPlatform.freshDatabase("generated_corpus"),
                ApiTestApp.setting("auth.bootstrapAdminKey", ADMIN),
                ApiTestApp.setting("rateLimits.jobSubmissionsPerMinute", "1000000"),
                ApiTestApp.setting("rateLimits.failedPasswordsPerAddress", "1000000"),
                ApiTestApp.setting("outbox.relayEnabled", "false"))
            .start();
    String user = "corpus" + UUID.randomUUID().toString().substring(0, 6);
    key = app.newAccountKey(user);
    basic =
        "Basic "
            + Base64.getEncoder()
                .encodeToString((user + ":correct horse battery").getBytes(StandardCharsets.UTF_8));
    jobId =
        ApiTestApp.json(
                app.postJson(
                    "/v1/jobs",
                    "{\"type\":\"text\",\"input\":{\"prompt\":\"hi\",\"max_tokens\":3}}",
                    "X-API-Key",
                    key))
            .path("id")
            .asText();
    try (Connection c = DriverManager.getConnection(app.jdbcUrl(), "postgres", "");
        ResultSet rs =
            c.createStatement()
                .executeQuery("SELECT account_id FROM jobs WHERE id = '" + jobId + "'")) {
      rs.next();
      accountId = rs.getString(1);
    }
    spec = DocsResource.load();
  }

  @AfterAll
  static void stop() {
    app.close();
  }

  private static JsonNode resolve(JsonNode schema) {
    while (schema != null && schema.has("$ref")) {
      String[] parts = schema.get("$ref").asText().substring(2).split("/");
      JsonNode n = spec;
      for (String p : parts) {
        n = n.path(p);
      }
      schema = n;
    }
    return schema == null ? F.objectNode() : schema;
  }

  private static boolean secured(JsonNode op, String scheme) {
    JsonNode sec = op.path("security");
    for (JsonNode s : sec) {
      if (s.has(scheme)) {
        return true;
      }
    }
    return false;
  }

  /** Good credentials for the operation (so its validation is reached), or none. */
  private static Map<String, String> auth(String path, JsonNode op) {
    Map<String, String> h = new LinkedHashMap<>();
    if (path.startsWith("/v1/admin")) {
      h.put("Authorization", "Bearer " + ADMIN);
    } else if (secured(op, "apiKeyHeader") || secured(op, "bearerAuth")) {
      h.put("X-API-Key", key);
    } else if (secured(op, "basicAuth")) {
      h.put("Authorization", basic);
    }
    return h;
  }

  /** A path with its parameters filled with good values. */
  private static String fill(String path) {
    return path.replace("{id}", path.startsWith("/v1/admin/accounts") ? accountId : jobId);
  }

  /** Values the schema forbids, for a parameter or property. */
  private static List<Map.Entry<String, JsonNode>> forbidden(JsonNode schema, boolean required) {
    JsonNode s = resolve(schema);
    String type = s.path("type").asText("");
    List<Map.Entry<String, JsonNode>> out = new ArrayList<>();
    Consumer<Object[]> add = kv -> out.add(Map.entry((String) kv[0], (JsonNode) kv[1]));
    if (required) {
      add.accept(new Object[] {"null where required", F.nullNode()});
    }
    switch (type) {
      case "string" -> {
        add.accept(new Object[] {"number for string", F.numberNode(12345)});
        add.accept(new Object[] {"boolean for string", F.booleanNode(true)});
        add.accept(new Object[] {"object for string", F.objectNode().put("a", 1)});
        add.accept(new Object[] {"array for string", F.arrayNode().add("x")});
        if (s.has("enum")) {
          add.accept(new Object[] {"outside the enum", F.textNode("not-in-enum-\u00e9")});
        }
        if (s.has("maxLength")) {
          add.accept(
              new Object[] {
                "past maxLength", F.textNode("x".repeat(s.get("maxLength").asInt() + 1))
              });
        }
        if (s.has("minLength") && s.get("minLength").asInt() > 0) {
          add.accept(
              new Object[] {
                "under minLength", F.textNode("x".repeat(s.get("minLength").asInt() - 1))
              });
        }
        if (s.has("pattern")) {
          add.accept(new Object[] {"against the pattern", F.textNode("!! not/the pattern \u0000")});
        }
        if ("email".equals(s.path("format").asText())) {
          add.accept(new Object[] {"not an email", F.textNode("not-an-email")});
        }
        if ("date".equals(s.path("format").asText())) {
          add.accept(new Object[] {"impossible date", F.textNode("2026-02-30")});
          add.accept(new Object[] {"date past 9999", F.textNode("+999999999-12-01")});
        }
        add.accept(new Object[] {"NUL in a string", F.textNode("a\u0000b")});
      }
      case "integer" -> {
        add.accept(new Object[] {"string for integer", F.textNode("12")});
        add.accept(new Object[] {"fraction for integer", F.numberNode(1.5)});
        add.accept(
            new Object[] {
              "integer past 64 bits",
              F.numberNode(new java.math.BigInteger("99999999999999999999999"))
            });
        add.accept(new Object[] {"boolean for integer", F.booleanNode(true)});
        add.accept(new Object[] {"array for integer", F.arrayNode().add(1)});
        if (s.has("minimum")) {
          add.accept(new Object[] {"under minimum", F.numberNode(s.get("minimum").asLong() - 1)});
        }
        if (s.has("maximum")) {
          add.accept(new Object[] {"over maximum", F.numberNode(s.get("maximum").asLong() + 1)});
        }
      }
      case "number" -> {
        add.accept(new Object[] {"string for number", F.textNode("0.5")});
        add.accept(new Object[] {"object for number", F.objectNode()});
        add.accept(new Object[] {"boolean for number", F.booleanNode(false)});
        if (s.has("minimum")) {
          add.accept(new Object[] {"under minimum", F.numberNode(s.get("minimum").asDouble() - 1)});
        }
        if (s.has("maximum")) {
          add.accept(new Object[] {"over maximum", F.numberNode(s.get("maximum").asDouble() + 1)});
        }
      }
      case "boolean" -> {
        add.accept(new Object[] {"string for boolean", F.textNode("yes")});
        add.accept(new Object[] {"number for boolean", F.numberNode(1)});
        add.accept(new Object[] {"object for boolean", F.objectNode()});
      }
      case "array" -> {
        add.accept(new Object[] {"string for array", F.textNode("x")});
        add.accept(new Object[] {"object for array", F.objectNode()});
        add.accept(new Object[] {"number for array", F.numberNode(3)});
        if (s.has("maxItems")) {
          ArrayNode a = F.arrayNode();
          for (int i = 0; i <= s.get("maxItems").asInt(); i++) {
            a.add("i" + i);
          }
          add.accept(new Object[] {"past maxItems", a});
        }
        JsonNode items = resolve(s.path("items"));
        if ("string".equals(items.path("type").asText())) {
          add.accept(new Object[] {"number item", F.arrayNode().add(7)});
          add.accept(new Object[] {"null item", F.arrayNode().addNull()});
        }
      }
      case "object" -> {
        add.accept(new Object[] {"string for object", F.textNode("x")});
        add.accept(new Object[] {"array for object", F.arrayNode()});
        add.accept(new Object[] {"number for object", F.numberNode(42)});
      }
      default -> {}
    }
    return out;
  }

  /** The object schema's properties, with their JSON pointers, one level of nesting deep. */
  private static void properties(
      JsonNode schema, String pointer, List<String[]> paths, Map<String, JsonNode> schemas) {
    JsonNode s = resolve(schema);
    JsonNode props = s.path("properties");
    Iterator<Map.Entry<String, JsonNode>> it = props.fields();
    while (it.hasNext()) {
      Map.Entry<String, JsonNode> p = it.next();
      String ptr = pointer + "/" + p.getKey();
      boolean required = false;
      for (JsonNode r : s.path("required")) {
        required |= r.asText().equals(p.getKey());
      }
      paths.add(new String[] {ptr, String.valueOf(required)});
      schemas.put(ptr, p.getValue());
      JsonNode child = resolve(p.getValue());
      if ("object".equals(child.path("type").asText()) && pointer.isEmpty()) {
        properties(child, ptr, paths, schemas);
      }
    }
  }

  private static ObjectNode parentOf(JsonNode root, String pointer) {
    String parent = pointer.substring(0, pointer.lastIndexOf('/'));
    JsonNode p = parent.isEmpty() ? root : root.at(parent);
    if (!(p instanceof ObjectNode)) {
      // the parent is absent in the baseline: create it
      ObjectNode grand = (ObjectNode) root;
      String name = parent.substring(1);
      p = grand.putObject(name);
    }
    return (ObjectNode) p;
  }

  private static String last(String pointer) {
    return pointer.substring(pointer.lastIndexOf('/') + 1);
  }

  private static List<Case> corpus() throws Exception {
    List<Case> cases = new ArrayList<>();
    Map<String, String> baselines = baselines();
    Iterator<Map.Entry<String, JsonNode>> paths = spec.path("paths").fields();
    while (paths.hasNext()) {
      Map.Entry<String, JsonNode> p = paths.next();
      String path = p.getKey();
      Iterator<Map.Entry<String, JsonNode>> ops = p.getValue().fields();
      while (ops.hasNext()) {
        Map.Entry<String, JsonNode> o = ops.next();
        String method = o.getKey().toUpperCase(Locale.ROOT);
        JsonNode op = o.getValue();
        String name = method + " " + path;
        Map<String, String> good = auth(path, op);
        String target = fill(path);
        String baseline = baselines.get(name);
        byte[] goodBody = baseline == null ? null : baseline.getBytes(StandardCharsets.UTF_8);

        // Broken credentials, on every secured operation.
        if (op.has("security") && op.path("security").size() > 0) {
          for (String[] bad :
              new String[][] {
                {"Authorization", "Bearer "},
                {"Authorization", "Bearer kx_live_" + "A".repeat(5000)},
                {"Authorization", "Basic !!!not-base64!!!"},
                {
                  "Authorization",
                  "Basic " + Base64.getEncoder().encodeToString("nocolon".getBytes())
                },
                {"Authorization", "Negotiate abc"},
                {"X-API-Key", "kx_live_\u00e9\u00e9\u00e9"},
              }) {
            cases.add(
                new Case(
                    name
                        + " with "
                        + bad[0]
                        + " "
                        + bad[1].substring(0, Math.min(20, bad[1].length())),
                    method,
                    target,
                    Map.of(bad[0], bad[1]),
                    goodBody));
          }
        }

        // Path and query parameters.
        for (JsonNode param : op.path("parameters")) {
          JsonNode prm = resolve(param);
          String in = prm.path("in").asText();
          String pname = prm.path("name").asText();
          if (in.equals("path")) {
            for (String bad :
                new String[] {
                  "%00", "x".repeat(5000), "%zz", "..%2F..%2Fadmin", "%C3%28", "%27%3B--"
                }) {
              cases.add(
                  new Case(
                      name + " path " + pname + "=" + bad.substring(0, Math.min(12, bad.length())),
                      method,
                      path.replace("{" + pname + "}", bad),
                      good,
                      goodBody));
            }
          } else if (in.equals("query")) {
            for (String bad : forbiddenInQuery(prm)) {
              String sep = target.contains("?") ? "&" : "?";
              String q = pname + "=" + bad;
              cases.add(
                  new Case(
                      name + " query " + q.substring(0, Math.min(40, q.length())),
                      method,
                      target + sep + q + requiredQuery(op, pname),
                      good,
                      goodBody));
            }
            if (prm.path("required").asBoolean()) {
              String rest = requiredQuery(op, pname);
              cases.add(
                  new Case(
                      name + " without query " + pname,
                      method,
                      target + (rest.isEmpty() ? "" : "?" + rest.substring(1)),
                      good,
                      goodBody));
            }
          }
        }

        // Request bodies.
        JsonNode schema =
            op.path("requestBody").path("content").path("application/json").path("schema");
        if (!schema.isMissingNode() && baseline != null) {
          if (op.path("requestBody").path("required").asBoolean()) {
            cases.add(new Case(name + " empty body", method, target, json(good), utf8("")));
            cases.add(new Case(name + " null body", method, target, json(good), utf8("null")));
          }
          for (String[] broken :
              new String[][] {
                {"array body", "[]"},
                {"string body", "\"x\""},
                {"number body", "1"},
                {"truncated JSON", baseline.substring(0, baseline.length() / 2)},
                {"trailing garbage", baseline + "}}"},
                {"comment in JSON", "/* x */" + baseline},
                {"single quotes", baseline.replace('"', '\'')},
                {"deep nesting", "[".repeat(5000) + "]".repeat(5000)},
              }) {
            cases.add(
                new Case(name + " " + broken[0], method, target, json(good), utf8(broken[1])));
          }
          byte[] badUtf8 = baseline.replace("\"", "\"\u0001").getBytes(StandardCharsets.UTF_8);
          cases.add(new Case(name + " control chars", method, target, json(good), badUtf8));
          byte[] invalid = baseline.getBytes(StandardCharsets.UTF_8).clone();
          int quote = baseline.lastIndexOf('"', baseline.length() - 2);
          invalid[quote - 1] = (byte) 0xC3; // a UTF-8 lead byte without its continuation
          cases.add(new Case(name + " invalid UTF-8", method, target, json(good), invalid));
          Map<String, String> textPlain = new LinkedHashMap<>(good);
          textPlain.put("Content-Type", "text/plain");
          cases.add(new Case(name + " as text/plain", method, target, textPlain, utf8(baseline)));

          List<String[]> props = new ArrayList<>();
          Map<String, JsonNode> schemas = new TreeMap<>();
          properties(schema, "", props, schemas);
          JsonNode s = resolve(schema);
          if (s.path("additionalProperties").isBoolean()
              && !s.path("additionalProperties").asBoolean()) {
            ObjectNode extra = (ObjectNode) JSON.readTree(baseline);
            extra.put("unknown_field_" + UUID.randomUUID().toString().substring(0, 4), 1);
            cases.add(
                new Case(
                    name + " unknown field",
                    method,
                    target,
                    json(good),
                    JSON.writeValueAsBytes(extra)));
          }
          for (String[] prop : props) {
            String ptr = prop[0];
            boolean required = Boolean.parseBoolean(prop[1]);
            if (required) {
              JsonNode root = JSON.readTree(baseline);
              parentOf(root, ptr).remove(last(ptr));
              cases.add(
                  new Case(
                      name + " without " + ptr,
                      method,
                      target,
                      json(good),
                      JSON.writeValueAsBytes(root)));
            }
            JsonNode child = resolve(schemas.get(ptr));
            if ("object".equals(child.path("type").asText())
                && child.path("additionalProperties").isBoolean()
                && !child.path("additionalProperties").asBoolean()) {
              JsonNode root = JSON.readTree(baseline);
              ObjectNode parent = parentOf(root, ptr);
              JsonNode obj = parent.get(last(ptr));
              ObjectNode o2 = obj instanceof ObjectNode on ? on : parent.putObject(last(ptr));
              o2.put("unknown_field", 1);
              cases.add(
                  new Case(
                      name + " unknown field in " + ptr,
                      method,
                      target,
                      json(good),
                      JSON.writeValueAsBytes(root)));
            }
            for (Map.Entry<String, JsonNode> f : forbidden(schemas.get(ptr), required)) {
              JsonNode root = JSON.readTree(baseline);
              parentOf(root, ptr).set(last(ptr), f.getValue());
              cases.add(
                  new Case(
                      name + " " + ptr + ": " + f.getKey(),
                      method,
                      target,
                      json(good),
                      JSON.writeValueAsBytes(root)));
            }
          }
        }
      }
    }
    return cases;
  }

  /** Query values the parameter's schema forbids (in a query every value is text). */
  private static List<String> forbiddenInQuery(JsonNode prm) {
    JsonNode s = resolve(prm.path("schema"));
    List<String> bads = new ArrayList<>();
    switch (s.path("type").asText()) {
      case "integer" -> {
        bads.addAll(List.of("abc", "1.5", "99999999999999999999999", "", "1e3", "%2B%2B1"));
        if (s.has("minimum")) {
          bads.add(String.valueOf(s.get("minimum").asLong() - 1));
        }
        if (s.has("maximum")) {
          bads.add(String.valueOf(s.get("maximum").asLong() + 1));
        }
      }
      case "boolean" -> bads.addAll(List.of("maybe", "1", "TRUE%00"));
      case "string" -> {
        bads.add("%00");
        bads.add("x".repeat(5000));
        if (s.has("enum")) {
          bads.add("not-in-enum-%C3%A9");
          bads.add("");
        }
        if (s.has("pattern")) {
          bads.add("%21%21bad%20pattern");
        }
        if ("date".equals(s.path("format").asText())) {
          bads.addAll(List.of("2026-02-30", "%2B999999999-12-01", "yesterday", "20261201"));
        }
      }
      default -> {}
    }
    bads.add("%zz");
    return bads;
  }

  /** The other required query parameters of an operation, with good values. */
  private static String requiredQuery(JsonNode op, String except) {
    StringBuilder b = new StringBuilder();
    for (JsonNode param : op.path("parameters")) {
      JsonNode prm = resolve(param);
      if (prm.path("in").asText().equals("query")
          && prm.path("required").asBoolean()
          && !prm.path("name").asText().equals(except)) {
        String n = prm.path("name").asText();
        String v =
            n.equals("from")
                ? "2026-11-01"
                : n.equals("to") ? "2026-12-01" : n.equals("month") ? "2026-11" : "1";
        b.append('&').append(n).append('=').append(v);
      }
    }
    return b.toString();
  }

  private static Map<String, String> json(Map<String, String> headers) {
    Map<String, String> h = new LinkedHashMap<>(headers);
    h.put("Content-Type", "application/json");
    return h;
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static String encode(String s) {
    return java.net.URLEncoder.encode(s, StandardCharsets.UTF_8);
  }

  /** What came back: the status, Content-Type and body. */
  record Answer(int status, String contentType, String body) {}

  /** One request over a raw socket, exactly as written; the server closes after answering. */
  static Answer send(Case c) throws Exception {
    try (Socket s =
        new Socket("127.0.0.1", Integer.parseInt(app.baseUrl().replaceAll(".*:", "")))) {
      s.setSoTimeout(60_000);
      ByteArrayOutputStream req = new ByteArrayOutputStream();
      StringBuilder head = new StringBuilder();
      head.append(c.method()).append(' ').append(c.target()).append(" HTTP/1.1\r\n");
      head.append("Host: 127.0.0.1\r\nConnection: close\r\nAccept: application/json\r\n");
      for (Map.Entry<String, String> h : c.headers().entrySet()) {
        head.append(h.getKey()).append(": ").append(h.getValue()).append("\r\n");
      }
      if (c.body() != null) {
        if (!c.headers().containsKey("Content-Type")) {
          head.append("Content-Type: application/json\r\n");
        }
        head.append("Content-Length: ").append(c.body().length).append("\r\n");
      }
      head.append("\r\n");
      req.write(head.toString().getBytes(StandardCharsets.UTF_8));
      if (c.body() != null) {
        req.write(c.body());
      }
      OutputStream out = s.getOutputStream();
      out.write(req.toByteArray());
      out.flush();
      InputStream in = s.getInputStream();
      String answer = new String(in.readAllBytes(), StandardCharsets.UTF_8);
      int eol = answer.indexOf("\r\n");
      assertThat(eol).as(c.name() + ": an answer, not a closed connection").isPositive();
      int status = Integer.parseInt(answer.substring(9, 12));
      int end = answer.indexOf("\r\n\r\n");
      String headers = answer.substring(0, end).toLowerCase(Locale.ROOT);
      String type = "";
      for (String line : headers.split("\r\n")) {
        if (line.startsWith("content-type:")) {
          type = line.substring(13).trim();
        }
      }
      return new Answer(status, type, answer.substring(end + 4));
    }
  }

  @Test
  void everyMalformedRequestGeneratedFromTheContractGetsA4xxProblem() throws Exception {
    List<Case> cases = corpus();
    assertThat(cases.size()).as("cases generated from openapi.yaml").isGreaterThanOrEqualTo(500);
    List<String> wrong = new ArrayList<>();
    Map<Integer, Integer> byStatus = new TreeMap<>();
    for (Case c : cases) {
      Answer a = send(c);
      byStatus.merge(a.status(), 1, Integer::sum);
      // The OpenAI-compatible routes answer OpenAI's error shape instead (README), except for
      // what Jetty refuses before any route is known (a URI it cannot read: problem+json).
      boolean openAi =
          c.name().matches("\\w+ /v1/(models|chat/completions|completions)\\b.*")
              && !a.body().contains("\"code\":\"bad_request\"");
      boolean problem =
          a.status() >= 400
              && a.status() < 500
              && (openAi
                  ? a.contentType().startsWith("application/json")
                      && a.body().startsWith("{\"error\":{")
                      && a.body().contains("\"code\"")
                  : a.contentType().startsWith("application/problem+json")
                      && a.body().contains("\"code\""));
      if (!problem) {
        wrong.add(
            c.name()
                + " -> "
                + a.status()
                + " "
                + a.contentType()
                + " "
                + a.body().substring(0, Math.min(200, a.body().length())));
      }
    }
    System.out.printf("generated corpus: %d cases, statuses %s%n", cases.size(), byStatus);
    assertThat(wrong).as("answers that are not a 4xx problem+json (OpenAI's error)").isEmpty();
    // The API is alive and serves a well-formed request afterwards.
    assertThat(app.get("/v1/jobs/" + jobId, "X-API-Key", key).statusCode()).isEqualTo(200);
  }
}
