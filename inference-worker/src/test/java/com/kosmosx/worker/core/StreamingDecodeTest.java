package com.kosmosx.worker.core;

import static org.assertj.core.api.Assertions.assertThat;

import com.kosmosx.worker.model.HfTokenizer;
import com.kosmosx.worker.model.LanguageModel;
import com.kosmosx.worker.model.Tokenizer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Token streaming out of the Generator: what a streaming client reads is the final text, in order,
 * cut only between whole characters and whole pieces, and never includes text a stop sequence later
 * removes. Driven by a scripted model over the shipped (Metaspace) tokenizer, and over a byte-level
 * tokenizer whose characters span several tokens.
 */
class StreamingDecodeTest {
  private static HfTokenizer shipped;

  @BeforeAll
  static void load() {
    shipped = new HfTokenizer(Path.of("..", "model", "tiny-kosmos", "tokenizer.json"));
  }

  @AfterAll
  static void close() {
    shipped.close();
  }

  record Delta(int offset, String text, Double engineMs) {}

  record Streamed(List<Delta> deltas, Generation result) {
    String joined() {
      StringBuilder b = new StringBuilder();
      for (Delta d : deltas) {
        assertThat(d.offset()).as("deltas are contiguous").isEqualTo(b.length());
        b.append(d.text());
      }
      return b.toString();
    }
  }

  private static Streamed stream(
      Tokenizer tokenizer, long[] promptIds, long[] continuation, long eos, List<String> stop) {
    int[] script = new int[continuation.length + 1];
    for (int i = 0; i < continuation.length; i++) {
      script[i] = (int) continuation[i];
    }
    script[continuation.length] = (int) eos;
    Generator g =
        new Generator(new GeneratorTest.ScriptedModel(4096, script), tokenizer, promptIds[0], eos);
    List<Delta> deltas = new ArrayList<>();
    Generation[] out = new Generation[1];
    g.generate(
        List.of(
            new Generator.Request(
                LanguageModel.Prompt.text(promptIds, continuation.length + 5),
                promptIds.length - 1,
                () -> new Sampler(null, null, null),
                stop,
                () -> false,
                true)),
        new Generator.Listener() {
          @Override
          public void finished(int request, Generation generation) {
            out[0] = generation;
          }

          @Override
          public void failed(int request, RuntimeException error) {
            throw error;
          }

          @Override
          public void delta(int request, int offset, String text, Double engineMs) {
            deltas.add(new Delta(offset, text, engineMs));
          }
        });
    return new Streamed(deltas, out[0]);
  }

  private static Streamed shipped(String prompt, String continuation, List<String> stop) {
    long[] p = shipped.encode(prompt);
    long[] withBos = new long[p.length + 1];
    System.arraycopy(p, 0, withBos, 1, p.length);
    return stream(shipped, withBos, shipped.encode(continuation), 2, stop);
  }

  @Test
  void theDeltasReadAsTheFinalTextWithItsLeadingSpace() {
    Streamed s =
        shipped("Once upon a time", "there was a small robot who loved the sea", List.of());
    assertThat(s.deltas()).hasSizeGreaterThan(3); // streamed as generated, not at the end
    // Ended by EOS, without stop sequences: every token's text was streamed before the end.
    assertThat(s.joined()).isEqualTo(s.result().text());
    assertThat(s.result().text()).isEqualTo(" there was a small robot who loved the sea");
    assertThat(s.deltas().get(0).engineMs()).isNotNull().isGreaterThanOrEqualTo(0.0);
    assertThat(s.deltas().subList(1, s.deltas().size())).allMatch(d -> d.engineMs() == null);
  }

  @Test
  void nothingAStopSequenceRemovesIsEverStreamed() {
    for (String stop : List.of(" small", "mal", " robot who", "sea")) {
      Streamed s =
          shipped("Once upon a time", "there was a small robot who loved the sea", List.of(stop));
      assertThat(s.result().text()).doesNotContain(stop);
      assertThat(s.result().text()).as(stop).startsWith(s.joined());
    }
  }

  @Test
  void accentsCjkAndEmojiArriveWhole() {
    String text = "The naïve café owner served a crème brûlée to a guest from 東京 🚀 today";
    Streamed s = shipped("Hello", text, List.of("🚀 x"));
    assertThat(s.result().text()).isEqualTo(" " + text);
    assertThat(s.result().text()).startsWith(s.joined());
    for (Delta d : s.deltas()) {
      assertThat(d.text()).doesNotContain("\uFFFD");
      assertThat(Character.isHighSurrogate(d.text().charAt(d.text().length() - 1))).isFalse();
      assertThat(Character.isLowSurrogate(d.text().charAt(0))).isFalse();
    }
  }

  @Test
  void ignoreEosGeneratesToMaxTokens() {
    long[] prompt = {0, 5};
    long eos = 2;
    // The script: two tokens, EOS, then the last token repeats.
    Generator g =
        new Generator(new GeneratorTest.ScriptedModel(40, new int[] {7, 8, 2, 9}), shipped, 0, eos);
    Generation stopped =
        g.generate(prompt, 10, new Sampler(null, null, null), List.of(), () -> false);
    assertThat(stopped.outputTokens()).isEqualTo(2);
    assertThat(stopped.finishReason()).isEqualTo("stop");
    Generation[] out = new Generation[1];
    g.generate(
        List.of(
            new Generator.Request(
                LanguageModel.Prompt.text(prompt, 10),
                1,
                () -> new Sampler(null, null, null),
                List.of(),
                () -> false,
                false,
                true)),
        new Generator.Listener() {
          @Override
          public void finished(int request, Generation generation) {
            out[0] = generation;
          }

          @Override
          public void failed(int request, RuntimeException error) {
            throw error;
          }
        });
    assertThat(out[0].outputTokens()).isEqualTo(10);
    assertThat(out[0].finishReason()).isEqualTo("length");
  }

  /** One token per UTF-8 byte, as byte-level tokenizers have: a character spans tokens. */
  static final class ByteTokenizer implements Tokenizer {
    @Override
    public long[] encode(String text) {
      byte[] b = text.getBytes(StandardCharsets.UTF_8);
      long[] ids = new long[b.length];
      for (int i = 0; i < b.length; i++) {
        ids[i] = b[i] & 0xff;
      }
      return ids;
    }

    @Override
    public String decode(long[] ids) {
      byte[] b = new byte[ids.length];
      int n = 0;
      for (long id : ids) {
        if (id < 256) {
          b[n++] = (byte) id;
        }
      }
      return new String(b, 0, n, StandardCharsets.UTF_8);
    }

    @Override
    public void close() {}
  }

  @Test
  void aCharacterSplitAcrossTokensIsNeverStreamedInHalves() {
    ByteTokenizer bytes = new ByteTokenizer();
    String text = "é東京🚀ok ü";
    Streamed s = stream(bytes, new long[] {300, 'H', 'i'}, bytes.encode(text), 301, List.of());
    assertThat(s.result().text()).isEqualTo(text);
    assertThat(s.joined()).isEqualTo(text);
    for (Delta d : s.deltas()) {
      assertThat(d.text()).doesNotContain("\uFFFD");
    }
    // Each multi-byte character came out whole in one delta: one delta per character.
    assertThat(s.deltas()).hasSize((int) text.codePoints().count());
  }
}
