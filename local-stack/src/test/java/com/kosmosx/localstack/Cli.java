package com.kosmosx.localstack;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** Runs the launcher's main in its own process, as {@code ./kosmos} does, with the given env. */
final class Cli {
  static final Path ROOT = Path.of("..").toAbsolutePath().normalize();

  /** What a launcher command printed and returned. */
  record Run(int rc, String out) {}

  private Cli() {}

  static Run kosmos(Map<String, String> env, String... args) throws Exception {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.add("-Xmx128m");
    cmd.add("-Dkosmos.root=" + ROOT);
    cmd.add("-cp");
    cmd.add(System.getProperty("java.class.path"));
    cmd.add(LocalStack.class.getName());
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd).directory(ROOT.toFile()).redirectErrorStream(true);
    pb.environment().putAll(env);
    Path out = Files.createTempFile("kosmos-cli", ".txt");
    pb.redirectOutput(out.toFile());
    Process p = pb.start();
    assertThat(p.waitFor(8, TimeUnit.MINUTES)).as("kosmos " + String.join(" ", args)).isTrue();
    String text = Files.readString(out);
    System.out.println("$ kosmos " + String.join(" ", args) + "\n" + text);
    return new Run(p.exitValue(), text);
  }
}
