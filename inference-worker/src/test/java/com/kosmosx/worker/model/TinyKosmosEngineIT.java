package com.kosmosx.worker.model;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.Device;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.kosmosx.worker.core.Generator;
import com.kosmosx.worker.core.Sampler;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The real engine: the shipped TorchScript model (Hugging Face's Kosmos-2 architecture, exported by
 * scripts/export_kosmos2.py) through DJL's PyTorch engine and its SentencePiece tokenizer.json
 * through DJL's tokenizers: Hugging Face's tokenizer ids, batching, chunked prefill and the
 * 20,000-token context.
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
      // Hugging Face's decode (NFKC-normalised, unknown characters as <unk>, spaces as it
      // restores them), not necessarily the input.
      assertThat(tokenizer.decode(ids(c.path("ids"))))
          .as(text)
          .isEqualTo(c.path("decoded").asText());
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

  // Greedy tokens of each golden prompt alone and in one batch, pixel values and grounding
  // against Hugging Face: ModelVerifyIT (the same engine, through ./kosmos model verify).

  /** The golden image prompt: the processor's ids and the worker's pixels of the golden PNG. */
  private static LanguageModel.Prompt imagePrompt() {
    for (JsonNode c : golden.path("prompts")) {
      if (c.has("image")) {
        float[] pixels =
            new com.kosmosx.worker.vision.ImagePreprocessor(dir.config())
                .fromBase64(c.path("image").path("png_base64").asText());
        return new LanguageModel.Prompt(
            ids(c.path("prompt_ids")),
            c.path("max_tokens").asInt(),
            pixels,
            com.kosmosx.worker.core.PromptFormat.of(dir.config()).imageOffset());
      }
    }
    throw new AssertionError("golden.json has no image prompt");
  }

  private static Generator.Request greedyRequest(LanguageModel.Prompt p) {
    return new Generator.Request(
        p, p.ids().length - 1, () -> new Sampler(null, null, null), List.of(), () -> false);
  }

  @Test
  void batchedDecodingGivesTheSameTokensAsOneByOne() {
    Generator g = new Generator(model, tokenizer, 0, 2);
    List<Generator.Request> requests = new ArrayList<>();
    for (JsonNode c : golden.path("prompts")) {
      if (!c.has("image")) {
        requests.add(greedyRequest(LanguageModel.Prompt.text(ids(c.path("prompt_ids")), 24)));
      }
    }
    // Different lengths (left padding), a long one (chunked prefill) and an image prompt.
    requests.add(
        greedyRequest(
            LanguageModel.Prompt.text(
                g.promptIds("The robot walked to the beach and looked at the waves. ".repeat(12)),
                30)));
    requests.add(greedyRequest(imagePrompt()));
    requests.add(greedyRequest(LanguageModel.Prompt.text(g.promptIds("Hello"), 3)));

    List<long[]> alone = new ArrayList<>();
    for (Generator.Request r : requests) {
      GeneratorResults one = new GeneratorResults();
      g.generate(List.of(r), one);
      alone.add(one.done.get(0).tokenIds());
    }
    GeneratorResults batched = new GeneratorResults();
    g.generate(requests, batched);
    assertThat(batched.failed).isEmpty();
    for (int i = 0; i < requests.size(); i++) {
      assertThat(batched.done.get(i).tokenIds()).as("request " + i).containsExactly(alone.get(i));
    }
    // The short ones were reported before the batch's longest one ended.
    // Everything started together, so results come out shortest first: each was reported when it
    // ended, not when the batch's longest one did.
    int[] lengths =
        batched.order.stream().mapToInt(i -> batched.done.get(i).outputTokens()).toArray();
    assertThat(lengths[0]).isEqualTo(java.util.Arrays.stream(lengths).min().getAsInt());
    assertThat(lengths[lengths.length - 1])
        .isEqualTo(java.util.Arrays.stream(lengths).max().getAsInt())
        .isGreaterThan(lengths[0]);
  }

  @Test
  void aTwentyThousandTokenContextCompletes() {
    Generator g = new Generator(model, tokenizer, 0, 2);
    String sentence = "The quick brown fox jumps over the lazy dog. ";
    int perSentence = g.promptIds(sentence.repeat(2)).length - g.promptIds(sentence).length;
    long[] prompt = g.promptIds(sentence.repeat((20_000 - 24) / perSentence));
    int promptTokens = prompt.length - 1;
    int maxTokens = 20_000 - promptTokens;
    assertThat(promptTokens).isGreaterThan(19_900);
    assertThat(maxTokens).isGreaterThanOrEqualTo(16);
    // EOS disabled: the run fills the whole 20,000-token context.
    var result =
        new Generator(model, tokenizer, 0, -1)
            .generate(prompt, maxTokens, new Sampler(null, null, null), List.of(), () -> false);
    assertThat(result.inputTokens()).isEqualTo(promptTokens);
    assertThat(result.outputTokens()).isEqualTo(maxTokens);
    assertThat(result.inputTokens() + result.outputTokens()).isEqualTo(20_000);
  }

  /** Collects a batch's results in the order they were reported. */
  static final class GeneratorResults implements Generator.Listener {
    final List<Integer> order = new ArrayList<>();
    final java.util.Map<Integer, com.kosmosx.worker.core.Generation> done =
        new java.util.HashMap<>();
    final java.util.Map<Integer, RuntimeException> failed = new java.util.HashMap<>();

    @Override
    public void finished(int request, com.kosmosx.worker.core.Generation generation) {
      order.add(request);
      done.put(request, generation);
    }

    @Override
    public void failed(int request, RuntimeException error) {
      order.add(request);
      failed.put(request, error);
    }
  }

  @Test
  void chunkedPrefillEqualsFullPrefill() {
    long[] prompt =
        new Generator(model, tokenizer, 0, 2)
            .promptIds("Once upon a time there was a robot. ".repeat(40));
    assertThat(prompt.length).isGreaterThan(300);
    float[] full;
    try (var big = new DjlKosmosModel(dir, Device.cpu(), 4096);
        var batch = big.start(List.of(LanguageModel.Prompt.text(prompt, 1)))) {
      full = batch.logits(0).clone();
    }
    float[] chunked;
    try (var small = new DjlKosmosModel(dir, Device.cpu(), 128);
        var batch = small.start(List.of(LanguageModel.Prompt.text(prompt, 1)))) {
      chunked = batch.logits(0).clone();
    }
    assertThat(argmax(chunked)).isEqualTo(argmax(full));
    for (int i = 0; i < full.length; i++) {
      assertThat(chunked[i]).isCloseTo(full[i], org.assertj.core.data.Offset.offset(1e-3f));
    }
  }

  @Test
  void theStartUpCheckPassesOnTheShippedModel() {
    model.selfTest();
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
