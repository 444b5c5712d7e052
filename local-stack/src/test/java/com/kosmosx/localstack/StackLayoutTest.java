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
}
