package com.kosmosx.localstack;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The settings a service reads from its config.yml ({@code ${KOSMOS_…:-default}}), checked against
 * what a deployment (docker-compose.yml, the Kubernetes manifests) gives it: every setting whose
 * default only works on a developer machine (it points at localhost) or that has no default must be
 * provided, not with localhost; nothing the service does not read may be passed (a typo).
 */
final class ServiceSettings {
  static final Path ROOT = Path.of("..");
  private static final Pattern ENV = Pattern.compile("\\$\\{([A-Z0-9_]+)(?::-([^}]*))?}");

  /** Read by the JVM, glibc, DJL or libtorch rather than by our YAML. */
  static final Set<String> PLATFORM_VARS =
      Set.of(
          "JAVA_TOOL_OPTIONS",
          "MALLOC_ARENA_MAX",
          "DJL_OFFLINE",
          "OPT_OUT_TRACKING",
          "DJL_CACHE_DIR",
          "PYTORCH_LIBRARY_PATH",
          "PYTORCH_VERSION",
          "PYTORCH_FLAVOR");

  private ServiceSettings() {}

  /**
   * Checks {@code env} against the settings {@code config} reads; {@code shared} are settings given
   * to every service alike (a ConfigMap), which a service may leave unread.
   */
  static void assertWired(String service, String config, Map<String, ?> env, Set<String> shared)
      throws IOException {
    String yaml = Files.readString(ROOT.resolve(config));
    List<String> read = new ArrayList<>();
    Matcher m = ENV.matcher(yaml);
    while (m.find()) {
      read.add(m.group(1));
      String dflt = m.group(2) == null ? "" : m.group(2);
      if (dflt.contains("localhost") || m.group(2) == null) {
        assertThat(env).as(service + " must set " + m.group(1)).containsKey(m.group(1));
        assertThat(String.valueOf(env.get(m.group(1)))).doesNotContain("localhost");
      }
    }
    for (String name : env.keySet()) {
      assertThat(read.contains(name) || PLATFORM_VARS.contains(name) || shared.contains(name))
          .as(service + " is given " + name + ", which nothing reads")
          .isTrue();
    }
  }
}
