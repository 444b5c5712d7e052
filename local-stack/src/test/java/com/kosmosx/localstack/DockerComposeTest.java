package com.kosmosx.localstack;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;

/**
 * docker-compose.yml cannot run here (no Docker engine), so its wiring is checked statically: every
 * setting a service reads whose default only works on a developer machine (it points at localhost)
 * must be provided, no service is given a setting it does not read (a typo), and the worker gets
 * its GPU and the CUDA libtorch settings.
 */
class DockerComposeTest {
  private static final Path ROOT = Path.of("..");
  private static final Map<String, String> CONFIGS =
      Map.of(
          "api", "api-service/config.yml",
          "worker", "inference-worker/config.yml",
          "metering", "metering-stream/config.yml");
  private static final Map<String, String> MAIN_CLASSES =
      Map.of(
          "api", "com.kosmosx.api.ApiApplication",
          "worker", "com.kosmosx.worker.WorkerApplication",
          "metering", "com.kosmosx.metering.MeteringApplication");

  @SuppressWarnings("unchecked")
  private static Map<String, Object> compose() throws IOException {
    return new Yaml().load(Files.readString(ROOT.resolve("docker-compose.yml")));
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> service(String name) throws IOException {
    return (Map<String, Object>) ((Map<String, Object>) compose().get("services")).get(name);
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> env(String name) throws IOException {
    Object e = service(name).get("environment");
    return e == null ? Map.of() : (Map<String, Object>) e;
  }

  @Test
  @SuppressWarnings("unchecked")
  void describesThePlatformAndTheThreeServices() throws IOException {
    assertThat(((Map<String, Object>) compose().get("services")).keySet())
        .containsExactlyInAnyOrder("kafka", "postgres", "api", "worker", "metering");
  }

  @Test
  void everyLocalhostDefaultIsOverriddenAndNoUnknownSettingIsPassed() throws IOException {
    for (var e : CONFIGS.entrySet()) {
      ServiceSettings.assertWired(e.getKey(), e.getValue(), env(e.getKey()), Set.of());
    }
  }

  @Test
  @SuppressWarnings("unchecked")
  void eachServiceRunsItsMainClassWithItsConfig() throws Exception {
    for (var e : MAIN_CLASSES.entrySet()) {
      List<String> command = (List<String>) service(e.getKey()).get("command");
      assertThat(command.get(0)).isEqualTo(e.getValue());
      assertThat(Class.forName(command.get(0))).isNotNull();
      assertThat(command.get(1)).isEqualTo("server");
    }
  }

  @Test
  @SuppressWarnings("unchecked")
  void theWorkerReservesAGpuAndUsesTheCudaLibtorch() throws IOException {
    Map<String, Object> worker = service("worker");
    var devices =
        (List<Map<String, Object>>)
            ((Map<String, Object>)
                    ((Map<String, Object>)
                            ((Map<String, Object>) worker.get("deploy")).get("resources"))
                        .get("reservations"))
                .get("devices");
    assertThat(devices).hasSize(1);
    assertThat(devices.get(0)).containsEntry("driver", "nvidia");
    assertThat((List<String>) devices.get(0).get("capabilities")).contains("gpu");
    Map<String, Object> env = env("worker");
    assertThat(env)
        .containsEntry("KOSMOS_DEVICE", "gpu")
        .containsEntry("PYTORCH_VERSION", "2.7.1")
        .containsEntry("PYTORCH_FLAVOR", "cu128")
        .containsKey("PYTORCH_LIBRARY_PATH");
    assertThat(((Map<String, Object>) worker.get("build")).get("target")).isEqualTo("worker-gpu");
  }

  @Test
  void theDatabasePasswordComesFromTheEnvironmentNotTheFile() throws IOException {
    assertThat(String.valueOf(env("api").get("KOSMOS_DB_PASSWORD")))
        .startsWith("${KOSMOS_DB_PASSWORD:?");
  }
}
