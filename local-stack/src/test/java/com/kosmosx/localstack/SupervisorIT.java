package com.kosmosx.localstack;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * {@code ./kosmos up -d | status | down | reset} as a user runs them (the launcher's main in its
 * own process): the background supervisor restarts a SIGKILLed API while the worker and metering
 * run on, a stack whose data folder was removed starts at the first try, a service that cannot
 * start is reported with its error, and one that keeps failing is given up on.
 */
class SupervisorIT {
  private static final Path ROOT = Cli.ROOT;

  @Test
  void aServiceThatKeepsFailingAtStartIsGivenUpOnWithItsError() throws Exception {
    Path home = Files.createTempDirectory("kosmos-flaky");
    StackLayout layout = StackLayout.fromEnvironment(ROOT, StackLayout.onFreePorts(home));
    Files.createDirectories(layout.logs());
    Files.createDirectories(layout.run());
    LocalStack stack = new LocalStack(layout, System.getProperty("java.class.path"));
    ServiceSpec flaky =
        new ServiceSpec(
            "flaky", ExitsAtOnce.class.getName(), List.of(), "64m", Map.of(), "never", null);
    ByteArrayOutputStream printed = new ByteArrayOutputStream();
    Supervisor supervisor =
        new Supervisor(
            stack,
            layout,
            new Supervisor.Settings(
                Duration.ofMillis(100), Duration.ofMillis(400), Duration.ofSeconds(30), 3),
            new PrintStream(printed, true, StandardCharsets.UTF_8));
    supervisor.adopt(flaky, stack.start(flaky));
    long end = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
    while (!supervisor.gaveUp("flaky") && System.nanoTime() < end) {
      supervisor.tick(() -> false);
      Thread.sleep(50);
    }
    String out = printed.toString(StandardCharsets.UTF_8);
    System.out.println(out);
    assertThat(supervisor.gaveUp("flaky")).as(out).isTrue();
    assertThat(supervisor.restarts("flaky")).isEqualTo(2);
    assertThat(out)
        .contains("[kosmos] flaky failed 3 times within 30 s of starting; giving up: exit code 3")
        .contains("jobSubmissionsPerMinute must be greater than or equal to 1");
    // Given up is final: more passes start nothing.
    for (int i = 0; i < 5; i++) {
      supervisor.tick(() -> false);
    }
    assertThat(supervisor.restarts("flaky")).isEqualTo(2);
    Properties state = Supervisor.state(layout, "flaky").orElseThrow();
    assertThat(state.getProperty("gave_up")).isEqualTo("true");
  }
}
