package com.kosmosx.worker.model;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The Java engine against Hugging Face, on the shipped model, which is Hugging Face's own
 * architecture: {@code model/tiny-kosmos} is a tiny {@code Kosmos2ForConditionalGeneration}
 * (offline Unigram + Metaspace tokenizer, the processor's tag and patch tokens, trained on captions
 * and grounded captions by {@code scripts/make_tiny_checkpoint.py}) exported by {@code
 * scripts/export_kosmos2.py}, whose {@code golden.json} holds the processor's ids and pixel_values,
 * {@code generate}'s tokens and {@code post_process_generation}'s text and boxes. No Python here:
 * the committed files are the reference.
 */
class ModelVerifyIT {
  private static final Path HF = Path.of("..", "model", "tiny-kosmos");

  @Test
  void theHuggingFaceExportMatchesItsGoldenFileInTheWorkersEngine() throws Exception {
    ByteArrayOutputStream log = new ByteArrayOutputStream();
    List<String> differences =
        ModelVerify.verify(HF, new PrintStream(log, true, StandardCharsets.UTF_8));
    assertThat(differences).isEmpty();
    // Every prompt ran: text ones and image ones (processor ids, pixel values, greedy tokens,
    // batched, and the grounded answer's text and boxes against post_process_generation).
    assertThat(log.toString(StandardCharsets.UTF_8))
        .contains("prompt text:")
        // The continuation keeps the space before its first word (Metaspace), as a completion does
        .containsPattern("prompt story: \" there was a [a-z ]+")
        // and the grounded answer has a labelled object with a box
        .containsPattern("prompt image: \"[^\"]+\" \\[[a-z ]+@\\d+-\\d+\\(0\\.\\d+,")
        .contains("prompt caption:");
  }

  /**
   * The same checkpoint exported with {@code --fp16} (what GPU serving uses): config.json says
   * float16, so the engine creates the KV cache, image embeddings and pixels in half precision; its
   * golden file is Hugging Face's model in fp16 (on this CPU), and every token matches.
   */
  @Test
  void theHalfPrecisionExportMatchesHuggingFaceInHalfPrecision() throws Exception {
    Path fp16 = Path.of("..", "model", "tiny-kosmos-fp16");
    assertThat(ModelDirectory.open(fp16).config().halfPrecision()).isTrue();
    ByteArrayOutputStream log = new ByteArrayOutputStream();
    List<String> differences =
        ModelVerify.verify(fp16, new PrintStream(log, true, StandardCharsets.UTF_8));
    assertThat(differences).as(log.toString(StandardCharsets.UTF_8)).isEmpty();
    assertThat(log.toString(StandardCharsets.UTF_8)).contains("prompt image:");
  }

  @Test
  void aDifferenceIsReportedAndTheCommandExitsNonZero() throws Exception {
    Path copy = Files.createTempDirectory("model-verify");
    for (String f : List.of("model.pt", "tokenizer.json", "config.json")) {
      Files.copy(HF.resolve(f), copy.resolve(f));
    }
    ObjectMapper json = new ObjectMapper();
    ObjectNode golden = (ObjectNode) json.readTree(HF.resolve("golden.json").toFile());
    JsonNode image = golden.path("prompts").get(2);
    assertThat(image.path("name").asText()).isEqualTo("image");
    ArrayNode imageIds = (ArrayNode) image.path("ids");
    imageIds.set(3, imageIds.get(3).asLong() + 1); // Hugging Face "said" another token
    ArrayNode box =
        (ArrayNode) golden.path("grounding").get(0).path("entities").get(0).path("boxes").get(0);
    box.set(0, 0.5); // and another box
    ArrayNode pixel = (ArrayNode) image.path("image").path("pixel_values_sample").get(1);
    pixel.set(3, pixel.get(3).asDouble() + 0.01); // and another pixel value
    json.writeValue(copy.resolve("golden.json").toFile(), golden);

    List<String> differences =
        ModelVerify.verify(copy, new PrintStream(new ByteArrayOutputStream()));
    assertThat(differences)
        .anyMatch(d -> d.startsWith("prompt image: greedy tokens"))
        .anyMatch(d -> d.startsWith("prompt image in a batch of 4"))
        .anyMatch(d -> d.startsWith("prompt image: pixel_values[0,112,80]"))
        .anyMatch(d -> d.startsWith("grounding") && d.contains("entities"))
        .noneMatch(d -> d.startsWith("prompt text"))
        .noneMatch(d -> d.startsWith("prompt caption"));

    // The command: exit 1 with the differences; 0 on the committed directory.
    Process p =
        new ProcessBuilder(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp",
                System.getProperty("java.class.path"),
                ModelVerify.class.getName(),
                copy.toString())
            .redirectErrorStream(true)
            .start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(out).isEqualTo(1);
    assertThat(out).contains("difference(s)").contains("prompt image: greedy tokens");

    // A directory without a golden file is not "verified": it is an error (the command exits 2).
    org.assertj.core.api.Assertions.assertThatThrownBy(
            () ->
                ModelVerify.verify(
                    copy.resolve("nowhere"), new PrintStream(OutputStream.nullOutputStream())))
        .isInstanceOf(java.io.IOException.class)
        .hasMessageContaining("golden.json is missing");
    // A golden file with nothing to compare is not a pass either.
    golden.putArray("prompts");
    json.writeValue(copy.resolve("golden.json").toFile(), golden);
    org.assertj.core.api.Assertions.assertThatThrownBy(
            () -> ModelVerify.verify(copy, new PrintStream(OutputStream.nullOutputStream())))
        .isInstanceOf(java.io.IOException.class)
        .hasMessageContaining("has no prompts");
  }
}
