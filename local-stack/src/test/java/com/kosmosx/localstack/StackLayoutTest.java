package com.kosmosx.localstack;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Which model the local stack serves, and the context limit the API enforces for it. */
class StackLayoutTest {
  private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();

  private static Map<String, String> env(StackLayout layout, String service) {
    return layout.services().stream()
        .filter(s -> s.name().equals(service))
        .findFirst()
        .orElseThrow()
        .env();
  }

  @Test
  void theShippedModelByDefaultWithTheTwentyThousandTokenContext() {
    StackLayout layout = StackLayout.fromEnvironment(ROOT, Map.of());
    assertThat(env(layout, "worker").get("KOSMOS_MODEL_DIR"))
        .isEqualTo(ROOT.resolve("model/tiny-kosmos").toString());
    assertThat(env(layout, "api").get("KOSMOS_TOKENIZER"))
        .isEqualTo(ROOT.resolve("model/tiny-kosmos/tokenizer.json").toString());
    // The tiny model has 20,608 positions: the API's limit stays API.md's 20,000.
    assertThat(env(layout, "api").get("KOSMOS_MAX_CONTEXT_TOKENS")).isEqualTo("20000");
  }

  @Test
  void javaOptionsFromTheEnvironmentComeAfterTheStacksOwnForEveryServiceOrOne() {
    StackLayout layout =
        StackLayout.fromEnvironment(
            ROOT,
            Map.of(
                "KOSMOS_BROKERS", "3",
                "KOSMOS_JAVA_OPTS", " -Xss1m ",
                "KOSMOS_JAVA_OPTS_KAFKA_2", "-XX:TieredStopAtLevel=4  -Dx=y"));
    LocalStack stack = new LocalStack(layout, "unused");
    java.util.function.Function<String, ServiceSpec> spec =
        n -> layout.services().stream().filter(s -> s.name().equals(n)).findFirst().orElseThrow();
    assertThat(stack.extraJavaOptions(spec.apply("kafka-2")))
        .containsExactly("-Xss1m", "-XX:TieredStopAtLevel=4", "-Dx=y");
    assertThat(stack.extraJavaOptions(spec.apply("api"))).containsExactly("-Xss1m");
    assertThat(LocalStack.JVM_FLAGS).contains("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC");
  }

  @Test
  void anotherModelDirectoryBringsItsTokenizerAndItsShorterContext(@TempDir Path dir)
      throws Exception {
    // A directory as scripts/export_kosmos2.py writes it for microsoft/kosmos-2-patch14-224.
    Files.writeString(dir.resolve("config.json"), "{\"max_context\": 2048}");
    Map<String, String> vars = new HashMap<>();
    vars.put("KOSMOS_MODEL_DIR", dir.toString());
    StackLayout layout = StackLayout.fromEnvironment(ROOT, vars);
    assertThat(env(layout, "worker").get("KOSMOS_MODEL_DIR")).isEqualTo(dir.toString());
    assertThat(env(layout, "api").get("KOSMOS_TOKENIZER"))
        .isEqualTo(dir.resolve("tokenizer.json").toString());
    assertThat(env(layout, "api").get("KOSMOS_MAX_CONTEXT_TOKENS")).isEqualTo("2048");
    // An explicit setting wins.
    vars.put("KOSMOS_MAX_CONTEXT_TOKENS", "1024");
    assertThat(env(StackLayout.fromEnvironment(ROOT, vars), "api").get("KOSMOS_MAX_CONTEXT_TOKENS"))
        .isEqualTo("1024");
  }

  @Test
  void aReplicatedClusterHasThreeKafkaNodesOneQuorumAndServicesThatKnowAllOfThem() {
    StackLayout layout =
        StackLayout.fromEnvironment(
            ROOT, Map.of("KOSMOS_BROKERS", "3", "KOSMOS_APIS", "2", "KOSMOS_WORKERS", "2"));
    assertThat(layout.services().stream().map(ServiceSpec::name))
        .containsExactly(
            "postgres",
            "kafka",
            "kafka-2",
            "kafka-3",
            "api",
            "api-2",
            "worker",
            "worker-2",
            "metering");
    assertThat(layout.kafkaBootstrap())
        .isEqualTo("localhost:19092,localhost:19102,localhost:19112");
    String voters = "1@localhost:19093,2@localhost:19103,3@localhost:19113";
    for (int i = 1; i <= 3; i++) {
      String name = i == 1 ? "kafka" : "kafka-" + i;
      ServiceSpec kafka =
          layout.services().stream().filter(s -> s.name().equals(name)).findFirst().orElseThrow();
      assertThat(kafka.args()).endsWith(String.valueOf(i), voters);
    }
    for (String service : java.util.List.of("api", "api-2", "worker", "worker-2", "metering")) {
      assertThat(env(layout, service))
          .containsEntry("KOSMOS_KAFKA_BOOTSTRAP", layout.kafkaBootstrap())
          .containsEntry("KOSMOS_KAFKA_REPLICATION_FACTOR", "3");
    }
    assertThat(env(layout, "api-2"))
        .containsEntry("KOSMOS_API_PORT", "8082")
        .containsEntry("KOSMOS_API_ADMIN_PORT", "8083");
  }

  @Test
  void oneBrokerByDefaultAndNonsenseIsRefused() {
    StackLayout layout = StackLayout.fromEnvironment(ROOT, Map.of());
    assertThat(layout.brokers()).isEqualTo(1);
    assertThat(layout.kafkaBootstrap()).isEqualTo("localhost:19092");
    assertThat(env(layout, "api")).containsEntry("KOSMOS_KAFKA_REPLICATION_FACTOR", "1");
    org.assertj.core.api.Assertions.assertThatThrownBy(
            () -> StackLayout.fromEnvironment(ROOT, Map.of("KOSMOS_BROKERS", "0")))
        .hasMessageContaining("KOSMOS_BROKERS must be 1 to 5");
    org.assertj.core.api.Assertions.assertThatThrownBy(
            () -> StackLayout.fromEnvironment(ROOT, Map.of("KOSMOS_APIS", "two")))
        .hasMessageContaining("KOSMOS_APIS must be 1 to 4");
  }
}
