package com.kosmosx.worker.model;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.Device;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.kosmosx.worker.core.Generator;
import com.kosmosx.worker.core.Sampler;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The real engine: the shipped TorchScript model through DJL's PyTorch engine and the real
 * tokenizer.json through DJL's tokenizers, checked against golden ids that the generating Python
 * script produced with the same methods.
 */
class TinyKosmosEngineIT {
  private static final Path TINY = Path.of("..", "model", "tiny-kosmos");
  private static JsonNode golden;
  private static ModelDirectory dir;
  private static DjlKosmosModel model;
  private static HfTokenizer tokenizer;

  @BeforeAll
  static void load() throws Exception {
    golden = new ObjectMapper().readTree(TINY.resolve("golden.json").toFile());
    dir = ModelDirectory.open(TINY);
    model = new DjlKosmosModel(dir, Device.cpu(), 512);
    tokenizer = new HfTokenizer(dir.tokenizer());
  }

  @AfterAll
  static void close() {
    tokenizer.close();
    model.close();
  }

  private static long[] ids(JsonNode array) {
    long[] out = new long[array.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = array.get(i).asLong();
    }
    return out;
  }

  @Test
  void tokenizerMatchesThePythonReferenceIncludingTagsAndUnicode() {
    for (JsonNode c : golden.path("tokenizer")) {
      String text = c.path("text").asText();
      assertThat(tokenizer.encode(text)).as(text).containsExactly(ids(c.path("ids")));
      assertThat(tokenizer.decode(ids(c.path("ids")))).as(text).isEqualTo(text);
    }
  }

  @Test
  void patchIndexTokensAreSingleTokens() {
    long[] ids = tokenizer.encode("<patch_index_0044><patch_index_0863>");
    assertThat(ids)
        .containsExactly(
            dir.config().patchIndexTokenOffset() + 44, dir.config().patchIndexTokenOffset() + 863);
  }

  @Test
  void aLongPromptIsNotTruncated() {
    String prompt = "The quick brown fox jumps over the lazy dog. ".repeat(300);
    assertThat(tokenizer.encode(prompt).length).isGreaterThan(2000);
  }

  @Test
  void greedyDecodingReproducesTheGoldenTokens() {
    Generator g = new Generator(model, tokenizer, 0, 2);
    for (JsonNode c : golden.path("greedy")) {
      long[] prompt = ids(c.path("prompt_ids"));
      assertThat(g.promptIds(c.path("prompt").asText())).containsExactly(prompt);
      var result =
          g.generate(
              prompt,
              c.path("max_tokens").asInt(),
              new Sampler(null, null, null),
              List.of(),
              () -> false);
      long[] expected = ids(c.path("ids"));
      // The golden list ends with EOS when the model stopped; the generator excludes EOS.
      long[] withoutEos =
          expected[expected.length - 1] == 2
              ? Arrays.copyOf(expected, expected.length - 1)
              : expected;
      assertThat(result.tokenIds()).as(c.path("prompt").asText()).containsExactly(withoutEos);
    }
  }

  @Test
  void imagePromptReproducesTheGoldenTokens() {
    JsonNode c = golden.path("image");
    long[] prompt = ids(c.path("prompt_ids"));
    int size = dir.config().imageSize();
    double[] mean = dir.config().imageMean();
    double[] std = dir.config().imageStd();
    float[] pixels = new float[3 * size * size];
    for (int ch = 0; ch < 3; ch++) {
      for (int y = 0; y < size; y++) {
        for (int x = 0; x < size; x++) {
          // Same synthetic image as scripts/make_tiny_model.py, in float32 as torch computes it.
          float raw = (float) ((ch * 7 + y * 3 + x) % 256) / 255.0f;
          pixels[(ch * size + y) * size + x] = (raw - (float) mean[ch]) / (float) std[ch];
        }
      }
    }
    List<Long> out = new ArrayList<>();
    int max = c.path("max_tokens").asInt();
    try (var seq =
        model.startWithImage(
            prompt, prompt.length + max, pixels, c.path("image_positions").get(0).asInt())) {
      for (int i = 0; i < max; i++) {
        int t = argmax(seq.logits());
        out.add((long) t);
        if (t == 2) {
          break;
        }
        seq.append(t);
      }
    }
    assertThat(out)
        .containsExactlyElementsOf(
            () ->
                java.util.stream.StreamSupport.stream(c.path("ids").spliterator(), false)
                    .map(JsonNode::asLong)
                    .iterator());
  }

  @Test
  void chunkedPrefillEqualsFullPrefill() {
    long[] prompt =
        new Generator(model, tokenizer, 0, 2)
            .promptIds("Once upon a time there was a robot. ".repeat(40));
    assertThat(prompt.length).isGreaterThan(300);
    float[] full;
    try (var big = new DjlKosmosModel(dir, Device.cpu(), 4096);
        var seq = big.start(prompt, prompt.length + 1)) {
      full = seq.logits().clone();
    }
    float[] chunked;
    try (var small = new DjlKosmosModel(dir, Device.cpu(), 128);
        var seq = small.start(prompt, prompt.length + 1)) {
      chunked = seq.logits().clone();
    }
    assertThat(argmax(chunked)).isEqualTo(argmax(full));
    for (int i = 0; i < full.length; i++) {
      assertThat(chunked[i]).isCloseTo(full[i], org.assertj.core.data.Offset.offset(1e-3f));
    }
  }

  private static int argmax(float[] l) {
    int b = 0;
    for (int i = 1; i < l.length; i++) {
      if (l[i] > l[b]) {
        b = i;
      }
    }
    return b;
  }
}
