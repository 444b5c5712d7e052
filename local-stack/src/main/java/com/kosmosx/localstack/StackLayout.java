package com.kosmosx.localstack;

import com.kosmosx.platform.EmbeddedPostgresServer;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The local stack's processes, ports and folders. Everything lives under one home folder ({@code
 * .kosmos/} by default): {@code data/} survives restarts, {@code logs/} holds one file per process,
 * {@code run/} the pid files.
 */
public record StackLayout(
    Path root,
    Path home,
    int apiPort,
    int apiAdminPort,
    int workerAdminPort,
    int meteringAdminPort,
    int kafkaPort,
    int kafkaControllerPort,
    int postgresPort,
    int workers,
    Map<String, String> settings,
    int brokers,
    int apis) {

  /**
   * The layout from {@code KOSMOS_*} variables. {@code KOSMOS_WORKERS} (default 1) starts that many
   * workers ({@code worker}, {@code worker-2}, …; admin ports 10 apart). Every other {@code
   * KOSMOS_*} variable is handed to every service, so a setting such as {@code
   * KOSMOS_RATE_JOBS_PER_MINUTE} reaches the service that reads it.
   */
  public static StackLayout fromEnvironment(Path root, Map<String, String> env) {
    Map<String, String> settings = new java.util.TreeMap<>();
    env.forEach(
        (k, v) -> {
          if (k.startsWith("KOSMOS_") && v != null) {
            settings.put(k, v);
          }
        });
    int workers;
    try {
      workers = Integer.parseInt(env.getOrDefault("KOSMOS_WORKERS", "1").trim());
    } catch (NumberFormatException e) {
      workers = 0;
    }
    if (workers < 1 || workers > 8) {
      throw new IllegalArgumentException("KOSMOS_WORKERS must be 1 to 8");
    }
    int brokers = count(env, "KOSMOS_BROKERS", 5);
    int apis = count(env, "KOSMOS_APIS", 4);
    return new StackLayout(
        root,
        Path.of(env.getOrDefault("KOSMOS_HOME", root.resolve(".kosmos").toString())),
        port(env, "KOSMOS_API_PORT", 8080),
        port(env, "KOSMOS_API_ADMIN_PORT", 8081),
        port(env, "KOSMOS_WORKER_ADMIN_PORT", 8091),
        port(env, "KOSMOS_METERING_ADMIN_PORT", 8095),
        port(env, "KOSMOS_KAFKA_PORT", 19092),
        port(env, "KOSMOS_KAFKA_CONTROLLER_PORT", 19093),
        port(env, "KOSMOS_PG_PORT", 15432),
        workers,
        Map.copyOf(settings),
        brokers,
        apis);
  }

  private static int count(Map<String, String> env, String name, int max) {
    int n;
    try {
      n = Integer.parseInt(env.getOrDefault(name, "1").trim());
    } catch (NumberFormatException e) {
      n = 0;
    }
    if (n < 1 || n > max) {
      throw new IllegalArgumentException(name + " must be 1 to " + max);
    }
    return n;
  }

  /** Kafka node {@code i} (1-based): its client and controller ports, 10 apart per node. */
  int kafkaPort(int i) {
    return kafkaPort + 10 * (i - 1);
  }

  int kafkaControllerPort(int i) {
    return kafkaControllerPort + 10 * (i - 1);
  }

  /** API instance {@code i} (1-based): its public and admin ports, 2 apart per instance. */
  public int apiPort(int i) {
    return apiPort + 2 * (i - 1);
  }

  public int apiAdminPort(int i) {
    return apiAdminPort + 2 * (i - 1);
  }

  /** Topics' replication factor on this cluster: 3 from three brokers (min.insync.replicas 2). */
  public int replicationFactor() {
    return Math.min(3, brokers);
  }

  /**
   * Settings for a stack under {@code home} on free ports (tests, the soak): a mutable map to add
   * further {@code KOSMOS_*} settings to before {@link #fromEnvironment}.
   */
  public static Map<String, String> onFreePorts(Path home) {
    Map<String, String> env = new java.util.HashMap<>();
    env.put("KOSMOS_HOME", home.toString());
    for (String port :
        List.of(
            "KOSMOS_API_PORT",
            "KOSMOS_API_ADMIN_PORT",
            "KOSMOS_WORKER_ADMIN_PORT",
            "KOSMOS_METERING_ADMIN_PORT",
            "KOSMOS_KAFKA_PORT",
            "KOSMOS_KAFKA_CONTROLLER_PORT",
            "KOSMOS_PG_PORT")) {
      env.put(port, String.valueOf(com.kosmosx.platform.Ports.free()));
    }
    return env;
  }

  private static int port(Map<String, String> env, String name, int dflt) {
    String v = env.get(name);
    if (v == null || v.isBlank()) {
      return dflt;
    }
    try {
      int p = Integer.parseInt(v.trim());
      if (p < 1 || p > 65535) {
        throw new NumberFormatException();
      }
      return p;
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(name + " must be a port number, was '" + v + "'");
    }
  }

  public Path logs() {
    return home.resolve("logs");
  }

  public Path run() {
    return home.resolve("run");
  }

  public Path data() {
    return home.resolve("data");
  }

  public String kafkaBootstrap() {
    StringBuilder b = new StringBuilder();
    for (int i = 1; i <= brokers; i++) {
      b.append(i > 1 ? "," : "").append("localhost:").append(kafkaPort(i));
    }
    return b.toString();
  }

  public String jdbcUrl() {
    return "jdbc:postgresql://localhost:" + postgresPort + "/kosmos";
  }

  public String apiUrl() {
    return "http://localhost:" + apiPort;
  }

  /**
   * The model directory the workers load: {@code KOSMOS_MODEL_DIR} (relative to the project root
   * when not absolute), else the shipped {@code model/tiny-kosmos}.
   */
  public Path modelDir() {
    String dir = settings.get("KOSMOS_MODEL_DIR");
    return dir == null || dir.isBlank() ? root.resolve("model/tiny-kosmos") : root.resolve(dir);
  }

  /**
   * The API's context limit: 20,000 tokens (API.md), or the model's own {@code max_context} when
   * smaller (2,048 for Kosmos-2's weights), so a prompt the model cannot take is refused at submit
   * with {@code context_length_exceeded} instead of failing in the worker.
   */
  int maxContextTokens() {
    try {
      int model =
          new com.fasterxml.jackson.databind.ObjectMapper()
              .readTree(modelDir().resolve("config.json").toFile())
              .path("max_context")
              .asInt(20_000);
      return Math.min(20_000, model > 0 ? model : 20_000);
    } catch (java.io.IOException e) {
      return 20_000; // the worker names the missing file when it refuses to start
    }
  }

  /** The processes in start order; they are stopped in reverse. */
  public List<ServiceSpec> services() {
    Map<String, String> common =
        merge(
            settings,
            Map.of(
                "KOSMOS_KAFKA_BOOTSTRAP",
                kafkaBootstrap(),
                "KOSMOS_DB_URL",
                jdbcUrl(),
                "KOSMOS_KAFKA_REPLICATION_FACTOR",
                String.valueOf(replicationFactor()),
                "DJL_OFFLINE",
                "true",
                "OPT_OUT_TRACKING",
                "true",
                // glibc gives each busy thread its own malloc arena (up to 8 per core); two keep
                // the JVMs' native memory, and so their resident size, down (README "Performance").
                "MALLOC_ARENA_MAX",
                "2"));
    List<ServiceSpec> services = new java.util.ArrayList<>();
    services.addAll(
        List.of(
            new ServiceSpec(
                "postgres",
                "com.kosmosx.platform.PlatformMain",
                List.of(
                    "postgres",
                    data().resolve("postgres").toString(),
                    String.valueOf(postgresPort),
                    "kosmos"),
                "128m",
                // The bench's statement profile (EmbeddedPostgresServer.STATEMENT_STATS).
                settings.containsKey(EmbeddedPostgresServer.STATEMENT_STATS)
                    ? Map.of(
                        EmbeddedPostgresServer.STATEMENT_STATS,
                        settings.get(EmbeddedPostgresServer.STATEMENT_STATS))
                    : Map.of(),
                "postgres ready",
                null)));
    // Kafka's nodes start together (a KRaft node is ready once a quorum of them runs).
    String voters = "";
    for (int i = 1; i <= brokers; i++) {
      voters += (i > 1 ? "," : "") + i + "@localhost:" + kafkaControllerPort(i);
    }
    for (int i = 1; i <= brokers; i++) {
      services.add(
          new ServiceSpec(
              i == 1 ? "kafka" : "kafka-" + i,
              "com.kosmosx.platform.PlatformMain",
              brokers == 1
                  ? List.of(
                      "kafka",
                      data().resolve("kafka").toString(),
                      String.valueOf(kafkaPort),
                      String.valueOf(kafkaControllerPort))
                  : List.of(
                      "kafka",
                      data().resolve(i == 1 ? "kafka" : "kafka-" + i).toString(),
                      String.valueOf(kafkaPort(i)),
                      String.valueOf(kafkaControllerPort(i)),
                      String.valueOf(i),
                      voters),
              "768m",
              Map.of(),
              "kafka ready",
              null));
    }
    for (int i = 1; i <= apis; i++) {
      services.add(api(common, i));
    }
    services.addAll(
        List.of(
            worker(common, 1),
            new ServiceSpec(
                "metering",
                "com.kosmosx.metering.MeteringApplication",
                List.of("server", root.resolve("metering-stream/config.yml").toString()),
                "512m",
                merge(
                    common,
                    Map.of(
                        "KOSMOS_METERING_ADMIN_PORT", String.valueOf(meteringAdminPort),
                        "KOSMOS_METERING_STATE_DIR", data().resolve("metering").toString())),
                null,
                "http://localhost:" + meteringAdminPort + "/healthcheck")));
    // Further workers start after the first and stop before it.
    for (int i = 2; i <= workers; i++) {
      services.add(services.size() - 1, worker(common, i));
    }
    return List.copyOf(services);
  }

  /** API instance {@code i}: {@code api}, {@code api-2}, … on their own ports, one database. */
  private ServiceSpec api(Map<String, String> common, int i) {
    return new ServiceSpec(
        i == 1 ? "api" : "api-" + i,
        "com.kosmosx.api.ApiApplication",
        List.of("server", root.resolve("api-service/config.yml").toString()),
        // 384 MB of heap keeps the API within its 512 MB resident goal (./kosmos bench);
        // image decoding is budgeted to fit (ImageNormalizer.DECODE_BUDGET_MEGAPIXELS).
        "384m",
        merge(
            common,
            Map.of(
                "KOSMOS_API_PORT", String.valueOf(apiPort(i)),
                "KOSMOS_API_ADMIN_PORT", String.valueOf(apiAdminPort(i)),
                // The local stack is for development: webhooks may go to a local receiver.
                "KOSMOS_WEBHOOK_ALLOWED_HOSTS", "localhost,127.0.0.1",
                "KOSMOS_TOKENIZER",
                    settings.getOrDefault(
                        "KOSMOS_TOKENIZER", modelDir().resolve("tokenizer.json").toString()),
                "KOSMOS_MAX_CONTEXT_TOKENS",
                    settings.getOrDefault(
                        "KOSMOS_MAX_CONTEXT_TOKENS", String.valueOf(maxContextTokens())),
                "DJL_CACHE_DIR", data().resolve("djl-cache").toString())),
        null,
        "http://localhost:" + apiAdminPort(i) + "/healthcheck");
  }

  /** Worker {@code i}: its own id (so its own transactional ids) and admin port. */
  private ServiceSpec worker(Map<String, String> common, int i) {
    int adminPort = workerAdminPort + 10 * (i - 1);
    return new ServiceSpec(
        i == 1 ? "worker" : "worker-" + i,
        "com.kosmosx.worker.WorkerApplication",
        List.of("server", root.resolve("inference-worker/config.yml").toString()),
        "1g",
        merge(
            common,
            Map.of(
                "KOSMOS_WORKER_ID",
                "worker-" + i,
                "KOSMOS_WORKER_STATE_DIR",
                data().resolve("worker-" + i).toString(),
                "KOSMOS_WORKER_ADMIN_PORT",
                String.valueOf(adminPort),
                "KOSMOS_MODEL_DIR",
                modelDir().toString(),
                // The first worker serves the default dedicated lane too, so a dedicated plan set
                // on the local stack gets its jobs run instead of queued forever.
                "KOSMOS_WORKER_LANES",
                common.getOrDefault("KOSMOS_WORKER_LANES", i == 1 ? "shared,dedicated" : "shared"),
                "DJL_CACHE_DIR",
                data().resolve("djl-cache").toString())),
        null,
        "http://localhost:" + adminPort + "/healthcheck");
  }

  private static Map<String, String> merge(Map<String, String> a, Map<String, String> b) {
    var m = new java.util.HashMap<>(a);
    m.putAll(b);
    return Map.copyOf(m);
  }
}
