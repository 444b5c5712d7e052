package com.kosmosx.worker.core;

import static org.assertj.core.api.Assertions.assertThat;

import com.kosmosx.worker.model.HfTokenizer;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Text out of the shipped tokenizer (Kosmos-2's family: SentencePiece Unigram with Metaspace, as
 * {@code microsoft/kosmos-2-patch14-224} has), through the Generator: a Metaspace decoder drops the
 * word-boundary space of the first piece it is given, so a continuation decoded alone would lose
 * its leading space and a stop sequence beginning with a space could be missed. The model here is
 * scripted to emit the tokenizer's own ids for a known continuation; the reference is the whole
 * sequence decoded at once minus the prompt decoded alone, which is how Hugging Face's streamers
 * and vLLM define a continuation's text.
 */
class MetaspaceDecodingTest {
  private static HfTokenizer tokenizer;

  @BeforeAll
  static void load() {
    tokenizer = new HfTokenizer(Path.of("..", "model", "tiny-kosmos", "tokenizer.json"));
  }

  @AfterAll
  static void close() {
    tokenizer.close();
  }

  private static Generation run(String prompt, String continuation, List<String> stop) {
    long[] ids = tokenizer.encode(continuation);
    // The continuation's ids, then EOS (2), whatever the model is fed.
    int[] script = new int[ids.length + 1];
    for (int i = 0; i < ids.length; i++) {
      script[i] = (int) ids[i];
    }
    script[ids.length] = 2;
    Generator g = new Generator(new GeneratorTest.ScriptedModel(4096, script), tokenizer, 0, 2);
    return g.generate(
        g.promptIds(prompt), ids.length + 5, new Sampler(null, null, null), stop, () -> false);
  }

  /** What the continuation reads as after the prompt: decode(all) minus decode(prompt). */
  private static String reference(String prompt, String continuation) {
    long[] p = tokenizer.encode(prompt);
    long[] c = tokenizer.encode(continuation);
    long[] all = java.util.Arrays.copyOf(p, p.length + c.length);
    System.arraycopy(c, 0, all, p.length, c.length);
    String whole = tokenizer.decode(all);
    String head = tokenizer.decode(p);
    assertThat(whole).startsWith(head);
    return whole.substring(head.length());
  }

  @Test
  void aContinuationKeepsTheSpaceBeforeItsFirstWord() {
    Generation g = run("Once upon a time", "there was a small robot", List.of());
    assertThat(g.text()).isEqualTo(" there was a small robot");
    assertThat(g.text()).isEqualTo(reference("Once upon a time", "there was a small robot"));
    assertThat(g.finishReason()).isEqualTo("stop");
    // Decoded alone, the first piece loses its space: what the worker used to answer.
    assertThat(tokenizer.decode(tokenizer.encode("there was a small robot")))
        .isEqualTo("there was a small robot");
  }

  @Test
  void stopSequencesMatchAcrossPiecesIncludingAtTheFirstToken() {
    Generation mid = run("Once upon a time", "there was a small robot", List.of(" small"));
    assertThat(mid.text()).isEqualTo(" there was a");
    assertThat(mid.finishReason()).isEqualTo("stop");
    // " there" begins with the first piece's word-boundary space.
    Generation first = run("Once upon a time", "there was a small robot", List.of(" there"));
    assertThat(first.text()).isEmpty();
    assertThat(first.finishReason()).isEqualTo("stop");
    // It ends with the piece that completes " there" (counted: those tokens were generated).
    assertThat(first.outputTokens()).isEqualTo(tokenizer.encode("there").length);
    // Part of a word is found inside a piece too.
    Generation part = run("Once upon a time", "there was a small robot", List.of("mal"));
    assertThat(part.text()).isEqualTo(" there was a s");
  }

  @Test
  void accentsCjkEmojiAndLineBreaksComeOutWhole() {
    String text = "The naïve café owner served a crème brûlée to a guest from 東京.";
    Generation g = run("Hello", text, List.of());
    assertThat(g.text()).isEqualTo(reference("Hello", text)).isEqualTo(" " + text);
    Generation lines =
        run("Hello", "How are you?\n\nFine, thanks. The rocket 🚀 left", List.of("🚀"));
    assertThat(lines.text()).isEqualTo(" How are you?\n\nFine, thanks. The rocket ");
  }
}
