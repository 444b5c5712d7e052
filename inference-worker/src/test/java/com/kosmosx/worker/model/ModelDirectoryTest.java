package com.kosmosx.worker.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelDirectoryTest {
  static final Path TINY = Path.of("..", "model", "tiny-kosmos");

  @Test
  void theShippedTinyModelSatisfiesTheContract() {
    ModelDirectory dir = ModelDirectory.open(TINY);
    ModelConfig c = dir.config();
    assertThat(c.numImageTokens()).isEqualTo(64);
    assertThat(c.imageSize()).isEqualTo(224);
    assertThat(c.bosTokenId()).isZero();
    assertThat(c.eosTokenId()).isEqualTo(2);
    assertThat(c.maxContext()).isGreaterThanOrEqualTo(20_001);
    assertThat(c.numPatchIndexTokens()).isEqualTo(1024);
  }

  @Test
  void aMissingFileIsNamed(@TempDir Path dir) throws Exception {
    Files.copy(TINY.resolve("config.json"), dir.resolve("config.json"));
    assertThatThrownBy(() -> ModelDirectory.open(dir))
        .hasMessageContaining("model.pt")
        .hasMessageContaining("tokenizer.json");
    assertThatThrownBy(() -> ModelDirectory.open(dir.resolve("nope")))
        .hasMessageContaining("does not exist");
  }

  @Test
  void anIncompleteConfigIsRefusedWithReasons(@TempDir Path dir) throws Exception {
    Files.writeString(dir.resolve("model.pt"), "x");
    Files.writeString(dir.resolve("tokenizer.json"), "{}");
    Files.writeString(dir.resolve("config.json"), "{\"vocab_size\": 10, \"dtype\": \"bfloat16\"}");
    assertThatThrownBy(() -> ModelDirectory.open(dir))
        .hasMessageContaining("max_context")
        .hasMessageContaining("image_mean")
        .hasMessageContaining("dtype must be float32 or float16, not bfloat16");
  }
}
