package com.kosmosx.localstack;

import static org.assertj.core.api.Assertions.assertThat;

import com.kosmosx.platform.Ports;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The local stack as a new user meets it: real processes started by the launcher, the printed curl
 * tour pasted into a shell, then a stop and a second start that keeps the data.
 */
class LocalStackIT {

  @Test
  void upServesThePrintedTourAndASecondStartKeepsTheData() throws Exception {
    Path home = Files.createTempDirectory("kosmos-home");
    Map<String, String> env =
        Map.of(
            "KOSMOS_HOME", home.toString(),
            "KOSMOS_API_PORT", String.valueOf(Ports.free()),
            "KOSMOS_API_ADMIN_PORT", String.valueOf(Ports.free()),
            "KOSMOS_WORKER_ADMIN_PORT", String.valueOf(Ports.free()),
            "KOSMOS_METERING_ADMIN_PORT", String.valueOf(Ports.free()),
            "KOSMOS_KAFKA_PORT", String.valueOf(Ports.free()),
            "KOSMOS_KAFKA_CONTROLLER_PORT", String.valueOf(Ports.free()),
            "KOSMOS_PG_PORT", String.valueOf(Ports.free()));
    StackLayout layout =
        StackLayout.fromEnvironment(Path.of("..").toAbsolutePath().normalize(), env);
    LocalStack stack = new LocalStack(layout, System.getProperty("java.class.path"));
    try {
      // Given a started stack
      assertThat(stack.up(true)).isZero();
      assertThat(stack.status()).isZero();

      // When the printed tour is pasted into a shell
      String out = bash(LocalStack.curlTour(layout.apiUrl()));

      // Then the job has succeeded with generated text
      assertThat(out)
          .contains("key: kx_live_")
          .contains("\"status\":\"succeeded\"")
          .contains("\"output\":{\"text\":\"");

      // And after a stop and a second start, the job is still there
      String jobId = out.replaceAll("(?s).*job: (job_[a-z0-9]+).*", "$1");
      assertThat(stack.down()).isZero();
      assertThat(stack.status()).isEqualTo(1);
      assertThat(stack.up(true)).isZero();
      String psql =
          bash(
              "cd /tmp && curl -s -o /dev/null -w '%{http_code}' "
                  + layout.apiUrl()
                  + "/v1/jobs/"
                  + jobId);
      assertThat(psql).isEqualTo("401");
      assertThat(Files.readString(home.resolve("logs/api.log"))).doesNotContain("kx_live_");
    } finally {
      stack.down();
    }
  }

  private static String bash(String script) throws Exception {
    Process p = new ProcessBuilder("bash", "-c", script).redirectErrorStream(true).start();
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
  }
}
