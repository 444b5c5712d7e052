package com.kosmosx.worker.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.kosmosx.worker.model.LanguageModel;
import com.kosmosx.worker.model.Tokenizer;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The decode loop against a scripted model: no libtorch needed. */
class GeneratorTest {
  /** Token i decodes to the letter 'a'+i-10; 2 is EOS; 0 is BOS. */
  static final class LetterTokenizer implements Tokenizer {
    @Override
    public long[] encode(String text) {
      return text.chars().mapToLong(c -> c - 'a' + 10).toArray();
    }

    @Override
    public String decode(long[] ids) {
      StringBuilder b = new StringBuilder();
      for (long id : ids) {
        b.append((char) ('a' + id - 10));
      }
      return b.toString();
    }

    @Override
    public void close() {}
  }

  /** Emits a fixed script of tokens, one per step, recording what it was fed. */
  static class ScriptedModel implements LanguageModel {
    final int[] script;
    final List<Long> fed = new ArrayList<>();
    int capacity;
    boolean closed;

    ScriptedModel(int... script) {
      this.script = script;
    }

    @Override
    public Sequence start(long[] promptIds, int capacity) {
      this.capacity = capacity;
      return new Sequence() {
        int step;

        @Override
        public float[] logits() {
          float[] l = new float[40];
          l[script[Math.min(step, script.length - 1)]] = 10;
          return l;
        }

        @Override
        public void append(long token) {
          fed.add(token);
          step++;
        }

        @Override
        public void close() {
          closed = true;
        }
      };
    }

    @Override
    public int vocabSize() {
      return 40;
    }

    @Override
    public int maxContext() {
      return 1000;
    }

    @Override
    public void close() {}
  }

  private static Generation run(ScriptedModel m, int maxTokens, List<String> stop) {
    Generator g = new Generator(m, new LetterTokenizer(), 0, 2);
    return g.generate(
        g.promptIds("hi"), maxTokens, new Sampler(null, null, null), stop, () -> false);
  }

  @Test
  void stopsAtEosWithoutCountingIt() {
    ScriptedModel m = new ScriptedModel(10, 11, 2, 12);
    Generation g = run(m, 10, List.of());
    assertThat(g.text()).isEqualTo("ab");
    assertThat(g.outputTokens()).isEqualTo(2);
    assertThat(g.inputTokens()).isEqualTo(2);
    assertThat(g.finishReason()).isEqualTo("stop");
    assertThat(m.closed).isTrue();
    assertThat(m.capacity).isEqualTo(3 + 10);
  }

  @Test
  void stopsAtMaxTokensWithoutFeedingTheLastToken() {
    ScriptedModel m = new ScriptedModel(10, 11, 12, 13, 14);
    Generation g = run(m, 3, List.of());
    assertThat(g.text()).isEqualTo("abc");
    assertThat(g.finishReason()).isEqualTo("length");
    assertThat(m.fed).containsExactly(10L, 11L);
  }

  @Test
  void stopSequencesEndGenerationAndAreCutFromTheText() {
    ScriptedModel m = new ScriptedModel(10, 11, 12, 13, 14, 15);
    Generation g = run(m, 10, List.of("cd", "zz"));
    assertThat(g.text()).isEqualTo("ab");
    assertThat(g.finishReason()).isEqualTo("stop");
  }

  @Test
  void promptIdsStartWithBos() {
    Generator g = new Generator(new ScriptedModel(2), new LetterTokenizer(), 0, 2);
    assertThat(g.promptIds("ab")).containsExactly(0L, 10L, 11L);
  }

  @Test
  void anInterruptEndsTheLoop() {
    Generator g = new Generator(new ScriptedModel(10), new LetterTokenizer(), 0, 2);
    assertThatThrownBy(
            () ->
                g.generate(
                    g.promptIds("a"), 5, new Sampler(null, null, null), List.of(), () -> true))
        .isInstanceOf(Generator.GenerationInterrupted.class);
  }
}
