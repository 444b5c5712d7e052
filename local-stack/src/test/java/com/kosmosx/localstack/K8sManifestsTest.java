package com.kosmosx.localstack;

import static org.assertj.core.api.Assertions.assertThat;

import com.kosmosx.contracts.Topic;
import com.kosmosx.contracts.Topics;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.yaml.snakeyaml.Yaml;

/**
 * deploy/k8s cannot be applied here (no cluster), so each overlay is rendered with {@code kubectl
 * kustomize} (as {@code kubectl apply -k} would) and its wiring checked, like {@link
 * DockerComposeTest}: every topic of the contracts exists with its settings and replication factor
 * 3; Kafka runs KRaft with every internal topic replicated 3 times (min ISR 2); every setting a
 * service reads without a usable default is provided and nothing it does not read is passed; probes
 * hit the admin health checks; workers ask for a GPU and KEDA scales them on their lanes' lag
 * within the partitions; metering keeps its state on a volume; PostgreSQL has a standby; every
 * service is scraped; the alert rules are those of ops/.
 */
class K8sManifestsTest {
  private static final Path ROOT = ServiceSettings.ROOT;
  private static final Map<String, String> CONFIGS =
      Map.of(
          "kosmos-api", "api-service/config.yml",
          "kosmos-worker", "inference-worker/config.yml",
          "kosmos-metering", "metering-stream/config.yml");
  private static final Map<String, String> MAIN_CLASSES =
      Map.of(
          "kosmos-api", "com.kosmosx.api.ApiApplication",
          "kosmos-worker", "com.kosmosx.worker.WorkerApplication",
          "kosmos-metering", "com.kosmosx.metering.MeteringApplication");
  private static final Map<String, String> ADMIN_PORT_SETTING =
      Map.of(
          "kosmos-api", "KOSMOS_API_ADMIN_PORT",
          "kosmos-worker", "KOSMOS_WORKER_ADMIN_PORT",
          "kosmos-metering", "KOSMOS_METERING_ADMIN_PORT");

  private static final Map<String, Map<String, Map<String, Map<String, Object>>>> RENDERED =
      new java.util.concurrent.ConcurrentHashMap<>();

  /** The rendered overlay: its documents, by kind then name (rendered once per overlay). */
  private static Map<String, Map<String, Map<String, Object>>> render(String overlay)
      throws Exception {
    var docs = RENDERED.get(overlay);
    if (docs == null) {
      docs = kustomize(overlay);
      RENDERED.put(overlay, docs);
    }
    return docs;
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Map<String, Map<String, Object>>> kustomize(String overlay)
      throws Exception {
    boolean kubectl =
        java.util.Arrays.stream(System.getenv().getOrDefault("PATH", "").split(":"))
            .anyMatch(d -> Files.isExecutable(Path.of(d, "kubectl")));
    // Like the browser test: skipped with a message on a machine without kubectl, required in CI.
    if (!"1".equals(System.getenv("KOSMOS_REQUIRE_KUBECTL"))) {
      org.junit.jupiter.api.Assumptions.assumeTrue(
          kubectl, "kubectl is not installed: deploy/k8s is not rendered");
    }
    Process p =
        new ProcessBuilder(
                "kubectl", "kustomize", ROOT.resolve("deploy/k8s/overlays/" + overlay).toString())
            .redirectErrorStream(true)
            .start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(out).isZero();
    Map<String, Map<String, Map<String, Object>>> byKind = new LinkedHashMap<>();
    for (Object doc : new Yaml().loadAll(out)) {
      Map<String, Object> d = (Map<String, Object>) doc;
      String name = (String) ((Map<String, Object>) d.get("metadata")).get("name");
      byKind.computeIfAbsent((String) d.get("kind"), k -> new LinkedHashMap<>()).put(name, d);
    }
    return byKind;
  }

  /** The first (only) container of a Deployment's or StatefulSet's pod template. */
  @SuppressWarnings("unchecked")
  private static Map<String, Object> container(Map<String, Object> workload) {
    return ((List<Map<String, Object>>) at(workload, "spec", "template", "spec", "containers"))
        .get(0);
  }

  /** A container's literal env value by name ("" when it has none). */
  @SuppressWarnings("unchecked")
  private static String envValue(Map<String, Object> container, String name) {
    for (Map<String, Object> v : (List<Map<String, Object>>) container.get("env")) {
      if (name.equals(v.get("name"))) {
        return String.valueOf(v.get("value"));
      }
    }
    return "";
  }

  @SuppressWarnings("unchecked")
  private static <T> T at(Object node, String... path) {
    Object n = node;
    for (String step : path) {
      n = n instanceof Map<?, ?> m ? m.get(step) : null;
    }
    return (T) n;
  }

  @ParameterizedTest
  @ValueSource(strings = {"production", "staging"})
  void everyTopicExistsWithItsSettingsReplicatedThreeTimes(String overlay) throws Exception {
    var docs = render(overlay);
    Map<String, Map<String, Object>> topics = new HashMap<>();
    for (Map<String, Object> t : docs.get("KafkaTopic").values()) {
      topics.put(at(t, "spec", "topicName"), t);
      assertThat(at(t, "metadata", "labels", "strimzi.io/cluster").toString()).isEqualTo("kosmos");
    }
    List<Topic<?, ?>> expected = new ArrayList<>(Topics.all());
    expected.add(Topics.jobs("dedicated"));
    for (Topic<?, ?> topic : expected) {
      Map<String, Object> t = topics.get(topic.name());
      assertThat(t).as("a KafkaTopic for " + topic.name()).isNotNull();
      assertThat(at(t, "spec", "replicas").toString()).isEqualTo("3");
      Map<String, Object> config = at(t, "spec", "config");
      assertThat(String.valueOf(config.get("min.insync.replicas"))).isEqualTo("2");
      topic
          .config()
          .forEach(
              (k, v) ->
                  assertThat(String.valueOf(config.get(k)))
                      .as(topic.name() + " " + k)
                      .isEqualTo(v));
    }
    assertThat(topics.keySet())
        .as("no topic the code does not use")
        .containsExactlyInAnyOrderElementsOf(expected.stream().map(Topic::name).toList());
  }

  @ParameterizedTest
  @ValueSource(strings = {"production", "staging"})
  void kafkaRunsKraftOnThreeNodesWithInternalTopicsReplicated(String overlay) throws Exception {
    var docs = render(overlay);
    Map<String, Object> kafka = docs.get("Kafka").get("kosmos");
    assertThat(at(kafka, "metadata", "annotations").toString())
        .contains("strimzi.io/kraft=enabled")
        .contains("strimzi.io/node-pools=enabled");
    Map<String, Object> config = at(kafka, "spec", "kafka", "config");
    for (String rf :
        List.of(
            "default.replication.factor",
            "offsets.topic.replication.factor",
            "transaction.state.log.replication.factor",
            "share.coordinator.state.topic.replication.factor")) {
      assertThat(String.valueOf(config.get(rf))).as(rf).isEqualTo("3");
    }
    for (String isr :
        List.of(
            "min.insync.replicas",
            "transaction.state.log.min.isr",
            "share.coordinator.state.topic.min.isr")) {
      assertThat(String.valueOf(config.get(isr))).as(isr).isEqualTo("2");
    }
    assertThat(String.valueOf(config.get("unclean.leader.election.enable"))).isEqualTo("false");
    Map<String, Object> pool = docs.get("KafkaNodePool").values().iterator().next();
    assertThat((Integer) at(pool, "spec", "replicas")).isGreaterThanOrEqualTo(3);
    assertThat((List<String>) at(pool, "spec", "roles")).contains("controller", "broker");
  }

  @ParameterizedTest
  @ValueSource(strings = {"production", "staging"})
  @SuppressWarnings("unchecked")
  void everyServiceGetsWhatItReadsAndProbesItsAdminPort(String overlay) throws Exception {
    var docs = render(overlay);
    Map<String, String> settings = at(docs.get("ConfigMap").get("kosmos-settings"), "data");
    for (var e : CONFIGS.entrySet()) {
      String service = e.getKey();
      Map<String, Object> workload =
          docs.getOrDefault("Deployment", Map.of()).containsKey(service)
              ? docs.get("Deployment").get(service)
              : docs.get("StatefulSet").get(service);
      assertThat(workload).as(service).isNotNull();
      Map<String, Object> container = container(workload);
      Map<String, Object> env = new HashMap<>();
      for (Map<String, Object> v : (List<Map<String, Object>>) container.get("env")) {
        env.put((String) v.get("name"), v.containsKey("value") ? v.get("value") : v);
      }
      for (Map<String, Object> from : (List<Map<String, Object>>) container.get("envFrom")) {
        assertThat(at(from, "configMapRef", "name").toString()).isEqualTo("kosmos-settings");
        settings.forEach(env::putIfAbsent);
      }
      ServiceSettings.assertWired(service, e.getValue(), env, settings.keySet());
      assertThat(env.get("KOSMOS_KAFKA_REPLICATION_FACTOR")).as(service).isEqualTo("3");
      List<String> args = (List<String>) container.get("args");
      assertThat(args.get(0)).isEqualTo(MAIN_CLASSES.get(service));
      assertThat(Class.forName(args.get(0))).isNotNull();
      assertThat(args.get(1)).isEqualTo("server");
      // Probes on the admin port the service is told to use.
      int admin = Integer.parseInt(String.valueOf(env.get(ADMIN_PORT_SETTING.get(service))));
      List<Map<String, Object>> ports = (List<Map<String, Object>>) container.get("ports");
      assertThat(ports)
          .anySatisfy(
              p -> {
                assertThat(p.get("name")).isEqualTo("admin");
                assertThat(p.get("containerPort")).isEqualTo(admin);
              });
      assertThat(at(container, "readinessProbe", "httpGet", "path").toString())
          .isEqualTo("/healthcheck");
      assertThat(at(container, "readinessProbe", "httpGet", "port").toString()).isEqualTo("admin");
      assertThat(at(container, "livenessProbe", "httpGet", "path").toString()).isEqualTo("/ping");
      assertThat(at(container, "livenessProbe", "httpGet", "port").toString()).isEqualTo("admin");
      // Scraped: a Service exposes the admin port and a ServiceMonitor selects it.
      Map<String, Object> svc = docs.get("Service").get(service);
      assertThat(svc).as(service + " Service").isNotNull();
      Map<String, Object> monitor = docs.get("ServiceMonitor").get(service);
      assertThat(monitor).as(service + " ServiceMonitor").isNotNull();
      Map<String, Object> selector = at(monitor, "spec", "selector", "matchLabels");
      Map<String, Object> labels = at(svc, "metadata", "labels");
      assertThat(labels).containsAllEntriesOf(selector);
      Map<String, Object> endpoint =
          ((List<Map<String, Object>>) at(monitor, "spec", "endpoints")).get(0);
      assertThat(endpoint).containsEntry("port", "admin").containsEntry("path", "/metrics");
      assertThat((List<Map<String, Object>>) at(svc, "spec", "ports"))
          .anySatisfy(p -> assertThat(p.get("name")).isEqualTo("admin"));
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"production", "staging"})
  @SuppressWarnings("unchecked")
  void workersHaveAGpuAndScaleOnTheirLanesLagWithinThePartitions(String overlay) throws Exception {
    var docs = render(overlay);
    Map<String, Object> worker = docs.get("Deployment").get("kosmos-worker");
    Map<String, Object> container = container(worker);
    assertThat(String.valueOf((Object) at(container, "resources", "limits", "nvidia.com/gpu")))
        .isEqualTo("1");
    Map<String, Object> scaled = docs.get("ScaledObject").get("kosmos-worker");
    assertThat(at(scaled, "spec", "scaleTargetRef", "name").toString()).isEqualTo("kosmos-worker");
    int max = at(scaled, "spec", "maxReplicaCount");
    String lanes = envValue(container, "KOSMOS_WORKER_LANES");
    Map<String, Integer> partitions = new HashMap<>();
    for (Map<String, Object> t : docs.get("KafkaTopic").values()) {
      partitions.put(at(t, "spec", "topicName"), at(t, "spec", "partitions"));
    }
    List<Map<String, Object>> triggers = at(scaled, "spec", "triggers");
    assertThat(triggers).hasSize(lanes.split(",").length);
    for (String lane : lanes.split(",")) {
      String topic = Topics.jobs(lane).name();
      assertThat(triggers)
          .as("a lag trigger for lane " + lane)
          .anySatisfy(
              t -> {
                assertThat(t.get("type")).isEqualTo("kafka");
                assertThat(at(t, "metadata", "topic").toString()).isEqualTo(topic);
                // The worker group is <kafka.workerGroup>.<lane> (ApiConfiguration.workerGroup).
                assertThat(at(t, "metadata", "consumerGroup").toString())
                    .isEqualTo(
                        new com.kosmosx.api.ApiConfiguration().kafka.workerGroup + "." + lane);
                assertThat(at(t, "metadata", "bootstrapServers").toString())
                    .isEqualTo(
                        ((Map<String, String>)
                                at(docs.get("ConfigMap").get("kosmos-settings"), "data"))
                            .get("KOSMOS_KAFKA_BOOTSTRAP"));
              });
      assertThat(partitions.get(topic))
          .as("more workers than partitions of " + topic + " would idle")
          .isGreaterThanOrEqualTo(max);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"production", "staging"})
  @SuppressWarnings("unchecked")
  void meteringKeepsItsStateOnAVolumeAndPostgresHasAStandby(String overlay) throws Exception {
    var docs = render(overlay);
    Map<String, Object> metering = docs.get("StatefulSet").get("kosmos-metering");
    Map<String, Object> container = container(metering);
    String stateDir = envValue(container, "KOSMOS_METERING_STATE_DIR");
    String claim =
        at(
            ((List<Map<String, Object>>) at(metering, "spec", "volumeClaimTemplates")).get(0),
            "metadata",
            "name");
    String dir = stateDir;
    assertThat((List<Map<String, Object>>) container.get("volumeMounts"))
        .anySatisfy(
            v -> {
              assertThat(v.get("name")).isEqualTo(claim);
              assertThat(v.get("mountPath")).isEqualTo(dir);
            });
    Map<String, Object> pg = docs.get("Cluster").get("kosmos-db");
    assertThat((Integer) at(pg, "spec", "instances")).isGreaterThanOrEqualTo(2);
    // The API reaches the primary through the operator's -rw Service and its -app Secret.
    Map<String, Object> api = docs.get("Deployment").get("kosmos-api");
    String rendered = api.toString();
    assertThat(rendered)
        .contains("jdbc:postgresql://kosmos-db-rw:5432/kosmos")
        .contains("kosmos-db-app");
  }

  @ParameterizedTest
  @ValueSource(strings = {"production", "staging"})
  @SuppressWarnings("unchecked")
  void theAlertRulesAreThoseOfOps(String overlay) throws Exception {
    var docs = render(overlay);
    Map<String, Object> rule = docs.get("PrometheusRule").get("kosmos-alerts");
    Map<String, Object> ops =
        new Yaml().load(Files.readString(ROOT.resolve("ops/prometheus/alerts.yml")));
    assertThat((Object) at(rule, "spec", "groups")).isEqualTo(ops.get("groups"));
  }
}
