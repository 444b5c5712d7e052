package com.kosmosx.localstack;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.kosmosx.platform.EmbeddedPostgresServer;
import com.kosmosx.platform.Ports;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.yaml.snakeyaml.Yaml;

/**
 * The ops/ files proven against a running stack with a real Prometheus (Debian's package): it
 * scrapes the three services every second with the checked-in alert rules; every Grafana query and
 * every metric an alert names must return data, and the two alerts the issue names must fire when
 * provoked the way they happen in production (a plan naming a lane no worker serves; an outbox row
 * Kafka refused a minute ago).
 */
final class PrometheusOps implements AutoCloseable {
  static final Path OPS = Cli.ROOT.resolve("ops");
  static final String PROBE_LANE = "alert-probe";
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final HttpClient HTTP =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  private final StackLayout layout;
  private final Process prometheus;
  private final String url;

  private PrometheusOps(StackLayout layout, Process prometheus, String url) {
    this.layout = layout;
    this.prometheus = prometheus;
    this.url = url;
  }

  /**
   * Whether Debian's {@code prometheus} is on the PATH; where {@code KOSMOS_REQUIRE_PROMETHEUS=1}
   * (CI) it must be.
   */
  static boolean available() {
    boolean found =
        java.util.Arrays.stream(System.getenv().getOrDefault("PATH", "").split(":"))
            .anyMatch(d -> Files.isExecutable(Path.of(d, "prometheus")));
    if (!found && "1".equals(System.getenv("KOSMOS_REQUIRE_PROMETHEUS"))) {
      throw new AssertionError("KOSMOS_REQUIRE_PROMETHEUS=1 but no prometheus on PATH");
    }
    return found;
  }

  /** Starts Prometheus scraping the stack; returns once it has a few seconds of every target. */
  static PrometheusOps start(StackLayout layout, Path dir) throws Exception {
    Files.createDirectories(dir);
    int port = Ports.free();
    String config =
        String.join(
            "\n",
            "global:",
            "  scrape_interval: 1s",
            "  evaluation_interval: 1s",
            "rule_files:",
            "  - " + OPS.resolve("prometheus/alerts.yml").toAbsolutePath(),
            "scrape_configs:",
            job("kosmos-api", layout.apiAdminPort()),
            job("kosmos-worker", layout.workerAdminPort()),
            job("kosmos-metering", layout.meteringAdminPort()),
            "");
    Path file = dir.resolve("prometheus.yml");
    Files.writeString(file, config);
    Process p =
        new ProcessBuilder(
                "prometheus",
                "--config.file=" + file,
                "--storage.tsdb.path=" + dir.resolve("data"),
                "--web.listen-address=127.0.0.1:" + port,
                "--log.level=warn")
            .redirectErrorStream(true)
            .redirectOutput(dir.resolve("prometheus.log").toFile())
            .start();
    PrometheusOps ops = new PrometheusOps(layout, p, "http://127.0.0.1:" + port);
    long until = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
    while (System.nanoTime() < until) {
      assertThat(p.isAlive()).as("prometheus runs: " + log(dir)).isTrue();
      try {
        // Three targets up, each scraped at least five times (a rate needs two samples).
        JsonNode r = ops.query("min(count_over_time(up{job=~\"kosmos-.*\"}[1m])) >= 5");
        JsonNode up = ops.query("sum(up{job=~\"kosmos-.*\"})");
        if (r.size() == 1 && up.size() == 1 && up.get(0).get("value").get(1).asDouble() == 3) {
          return ops;
        }
      } catch (IOException e) {
        // not listening yet
      }
      Thread.sleep(500);
    }
    ops.close();
    throw new AssertionError("prometheus never scraped all three services: " + log(dir));
  }

  private static String job(String name, int port) {
    return "  - job_name: "
        + name
        + "\n    static_configs:\n      - targets: [\"localhost:"
        + port
        + "\"]";
  }

  private static String log(Path dir) {
    try {
      return Files.readString(dir.resolve("prometheus.log"));
    } catch (IOException e) {
      return e.toString();
    }
  }

  /** An instant query; the result vector (fails on a PromQL error). */
  JsonNode query(String promql) throws IOException, InterruptedException {
    HttpResponse<String> r =
        HTTP.send(
            HttpRequest.newBuilder(
                    URI.create(
                        url
                            + "/api/v1/query?query="
                            + URLEncoder.encode(promql, StandardCharsets.UTF_8)))
                .timeout(Duration.ofSeconds(10))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    JsonNode body = JSON.readTree(r.body());
    if (!"success".equals(body.path("status").asText())) {
      throw new AssertionError(promql + " -> " + r.body());
    }
    return body.get("data").get("result");
  }

  /** Every target's expression of the checked-in dashboard, as Grafana would send it. */
  static List<String> dashboardQueries() throws IOException {
    JsonNode dash = JSON.readTree(OPS.resolve("grafana/kosmosx-dashboard.json").toFile());
    List<String> out = new ArrayList<>();
    for (JsonNode panel : dash.get("panels")) {
      for (JsonNode t : panel.path("targets")) {
        out.add(t.get("expr").asText().replace("$__rate_interval", "1m").replace("$lane", ".*"));
      }
    }
    return out;
  }

  /** name → expression of every alert rule in the checked-in file. */
  @SuppressWarnings("unchecked")
  static java.util.Map<String, String> alertRules() throws IOException {
    java.util.Map<String, Object> doc =
        new Yaml().load(Files.readString(OPS.resolve("prometheus/alerts.yml")));
    java.util.Map<String, String> out = new java.util.LinkedHashMap<>();
    for (var g : (List<java.util.Map<String, Object>>) doc.get("groups")) {
      for (var rule : (List<java.util.Map<String, Object>>) g.get("rules")) {
        out.put((String) rule.get("alert"), ((String) rule.get("expr")).trim());
      }
    }
    return out;
  }

  private static final Pattern METRIC =
      Pattern.compile("\\b(kosmos_[a-z_]+|up)\\b(?=\\s*[{\\[)]|$)");

  /** The metric names an expression reads. */
  static Set<String> metricsIn(String expr) {
    Set<String> names = new LinkedHashSet<>();
    Matcher m = METRIC.matcher(expr);
    while (m.find()) {
      names.add(m.group(1));
    }
    return names;
  }

  /** The queries and alert metrics that returned nothing (empty when all is well). */
  List<String> silentQueries() throws Exception {
    List<String> silent = new ArrayList<>();
    for (String q : dashboardQueries()) {
      if (query(q).isEmpty()) {
        silent.add("dashboard: " + q);
      }
    }
    for (var rule : alertRules().entrySet()) {
      query(rule.getValue()); // a PromQL error fails here
      for (String metric : metricsIn(rule.getValue())) {
        if (query(metric).isEmpty()) {
          silent.add("alert " + rule.getKey() + ": " + metric);
        }
      }
    }
    return silent;
  }

  /** A plan that names a lane no worker serves, and an outbox row Kafka refused 2 minutes ago. */
  void provoke() throws Exception {
    try (Connection c =
        DriverManager.getConnection(layout.jdbcUrl(), EmbeddedPostgresServer.USER, "")) {
      c.createStatement()
          .executeUpdate(
              "INSERT INTO account_plans (account_id, product, plan, lane, effective_from,"
                  + " created_at) SELECT id, 'text', 'dedicated', '"
                  + PROBE_LANE
                  + "', date_trunc('month', now() + interval '1 month')::date, now()"
                  + " FROM accounts ORDER BY created_at LIMIT 1");
      c.createStatement()
          .executeUpdate(
              "INSERT INTO outbox (topic, msg_key, payload, created_at, attempts,"
                  + " next_attempt_at, last_error) VALUES ('kosmos.alert-probe', 'probe', ''::bytea,"
                  + " now() - interval '2 minutes', 1, now() + interval '1 hour',"
                  + " 'probe: the broker refused it')");
    }
  }

  void unprovoke() throws Exception {
    try (Connection c =
        DriverManager.getConnection(layout.jdbcUrl(), EmbeddedPostgresServer.USER, "")) {
      c.createStatement().executeUpdate("DELETE FROM outbox WHERE msg_key = 'probe'");
      c.createStatement()
          .executeUpdate("DELETE FROM account_plans WHERE lane = '" + PROBE_LANE + "'");
    }
  }

  Set<String> firing() throws Exception {
    return alerts(false);
  }

  /** The alerts firing (and pending too, if asked) now, as "name{lane}". */
  Set<String> alerts(boolean pendingToo) throws Exception {
    HttpResponse<String> r =
        HTTP.send(
            HttpRequest.newBuilder(URI.create(url + "/api/v1/alerts"))
                .timeout(Duration.ofSeconds(10))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    Set<String> out = new LinkedHashSet<>();
    for (JsonNode a : JSON.readTree(r.body()).get("data").get("alerts")) {
      String state = a.path("state").asText();
      if ("firing".equals(state) || (pendingToo && "pending".equals(state))) {
        String lane = a.path("labels").path("lane").asText("");
        out.add(
            a.get("labels").get("alertname").asText() + (lane.isEmpty() ? "" : "{" + lane + "}"));
      }
    }
    return out;
  }

  /**
   * Nothing is pending or firing on the healthy stack; then both causes are provoked (the caller
   * does other work during the lane rule's 30 s hold, then calls {@link #awaitProvokedAlerts}, and
   * {@link #unprovoke} in a finally).
   */
  void assertQuietThenProvoke() throws Exception {
    assertThat(alerts(true))
        .as("a healthy stack pages nobody")
        .doesNotContain(
            "KosmosLaneWithoutConsumer{shared}",
            "KosmosLaneWithoutConsumer{dedicated}",
            "KosmosOutboxStale");
    provoke();
    provokedAt = System.nanoTime();
  }

  private long provokedAt;

  /** Both critical alerts fire for the provoked causes, and only for them. */
  void awaitProvokedAlerts() throws Exception {
    Set<String> expected =
        Set.of("KosmosLaneWithoutConsumer{" + PROBE_LANE + "}", "KosmosOutboxStale");
    Set<String> firing = firing();
    // The lane rule holds for 30 s and lanes are asked of Kafka at most every 5 s.
    while (!firing.containsAll(expected)
        && System.nanoTime() - provokedAt < TimeUnit.MINUTES.toNanos(3)) {
      Thread.sleep(1000);
      firing = firing();
    }
    System.out.printf(
        "prometheus: %s firing %.0f s after the provocation%n",
        firing, (System.nanoTime() - provokedAt) / 1e9);
    assertThat(firing).containsAll(expected);
    assertThat(firing)
        .as("only the probe lane")
        .doesNotContain(
            "KosmosLaneWithoutConsumer{shared}", "KosmosLaneWithoutConsumer{dedicated}");
  }

  @Override
  public void close() throws Exception {
    prometheus.destroy();
    if (!prometheus.waitFor(10, TimeUnit.SECONDS)) {
      prometheus.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }
  }
}
