package com.kosmosx.localstack;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code ./kosmos logs [service] [-f]}: the script itself, on a folder of logs. */
class KosmosLogsTest {
  @TempDir Path home;

  private String[] run(String... args) throws Exception {
    String[] cmd = new String[args.length + 2];
    cmd[0] = "bash";
    cmd[1] = Cli.ROOT.resolve("kosmos").toString();
    System.arraycopy(args, 0, cmd, 2, args.length);
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    pb.environment().put("KOSMOS_HOME", home.toString());
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
    return new String[] {String.valueOf(p.exitValue()), out};
  }

  @Test
  void showsOneServiceOrAllWithTheServiceNameInFront() throws Exception {
    Files.createDirectories(home.resolve("logs"));
    Files.writeString(home.resolve("logs/api.log"), "api started\nGET /ping 200\n");
    Files.writeString(home.resolve("logs/worker.log"), "model warmed up\n");

    String[] all = run("logs");
    assertThat(all[0]).isEqualTo("0");
    assertThat(all[1])
        .contains("api       | api started")
        .contains("api       | GET /ping 200")
        .contains("worker    | model warmed up");

    String[] api = run("logs", "api");
    assertThat(api[0]).isEqualTo("0");
    assertThat(api[1]).isEqualTo("api started\nGET /ping 200\n");

    String[] unknown = run("logs", "nope");
    assertThat(unknown[0]).isEqualTo("2");
    assertThat(unknown[1]).contains("No log for 'nope'").contains("api").contains("worker");
  }

  @Test
  void followPrintsWhatIsWrittenLater() throws Exception {
    Files.createDirectories(home.resolve("logs"));
    Path log = home.resolve("logs/metering.log");
    Files.writeString(log, "first\n");
    ProcessBuilder pb =
        new ProcessBuilder("bash", Cli.ROOT.resolve("kosmos").toString(), "logs", "-f")
            .redirectErrorStream(true);
    pb.environment().put("KOSMOS_HOME", home.toString());
    Path out = home.resolve("out.txt");
    pb.redirectOutput(out.toFile());
    Process p = pb.start();
    try {
      Files.writeString(log, "later\n", java.nio.file.StandardOpenOption.APPEND);
      long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
      while (!Files.readString(out).contains("metering  | later") && System.nanoTime() < end) {
        Thread.sleep(100);
      }
      assertThat(Files.readString(out)).contains("metering  | first").contains("metering  | later");
    } finally {
      p.descendants().forEach(ProcessHandle::destroy);
      p.destroy();
    }
  }

  @Test
  void aTopologyChangeOnDataOfAnotherBrokerCountIsRefusedBeforeAnythingStarts() throws Exception {
    String[] noNumber = run("up", "-d", "--brokers");
    assertThat(noNumber[0]).isEqualTo("2");
    assertThat(noNumber[1]).contains("--brokers needs a number");

    Files.createDirectories(home.resolve("data/kafka"));
    String[] refused = run("up", "-d", "--brokers", "3", "--apis", "2");
    assertThat(refused[0]).isEqualTo("2");
    assertThat(refused[1])
        .contains("data is for 1 broker(s)")
        .contains("./kosmos reset --yes first to run 3");
    assertThat(Files.exists(home.resolve("topology.env"))).as("nothing recorded").isFalse();
  }
}
