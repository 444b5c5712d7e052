package com.kosmosx.localstack;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
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
    Map<String, String> env = StackLayout.onFreePorts(home);
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

      // When one account floods the API with twenty 20 MB images at once, the API (384 MB heap)
      // answers every upload and another account's jobs still succeed
      UploadFlood.Result flood = UploadFlood.run(layout.apiUrl());
      System.out.printf("upload flood: 20 uploads of 20 MB -> %s%n", flood.statuses());
      assertThat(flood.statuses().getOrDefault(202, 0)).as("most uploads accepted").isPositive();
      assertThat(stack.status()).as("every process still running").isZero();
      for (String id : flood.bystanderJobs()) {
        assertThat(awaitStatus(layout, flood.bystanderKey(), id)).as(id).isEqualTo("succeeded");
      }

      // When the broker is killed, jobs are accepted anyway, and the API is killed before it could
      // publish them
      String key = out.replaceAll("(?s).*key: (kx_live_[A-Za-z0-9]+).*", "$1");
      stack.kill9("kafka");
      List<String> accepted = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        String job =
            bash(
                "curl -s -X POST "
                    + layout.apiUrl()
                    + "/v1/jobs -H 'Authorization: Bearer "
                    + key
                    + "' -H 'Content-Type: application/json'"
                    + " -d '{\"type\":\"text\",\"input\":{\"prompt\":\"A cat sits\",\"max_tokens\":8}}'");
        assertThat(job).contains("\"status\":\"queued\"");
        accepted.add(job.replaceAll("(?s)^\\{\"id\":\"(job_[a-z0-9]+)\".*", "$1"));
      }
      stack.kill9("api");

      // Then starting again brings back what is missing, and every accepted job finishes once
      assertThat(stack.up(true)).isZero();
      for (String id : accepted) {
        assertThat(awaitStatus(layout, key, id)).as(id).isEqualTo("succeeded");
      }

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

  private static String awaitStatus(StackLayout layout, String key, String id) throws Exception {
    String status = "";
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (System.nanoTime() < end) {
      String body =
          bash("curl -s " + layout.apiUrl() + "/v1/jobs/" + id + " -H 'X-API-Key: " + key + "'");
      status = body.replaceAll("(?s).*\"status\":\"([a-z]+)\".*", "$1");
      if (status.equals("succeeded") || status.equals("failed")) {
        return status;
      }
      Thread.sleep(250);
    }
    return status;
  }

  private static String bash(String script) throws Exception {
    Process p = new ProcessBuilder("bash", "-c", script).redirectErrorStream(true).start();
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
  }
}
