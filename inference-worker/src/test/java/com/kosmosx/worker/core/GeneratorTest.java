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

  /**
   * Emits a fixed script of tokens per row, one per step, recording what it was fed. A prompt whose
   * first token after BOS is {@link #POISON} makes the model throw whenever it is in the batch.
   */
  static class ScriptedModel implements LanguageModel {
    static final long POISON = 35;
    final int[] script;
    final int vocab;
    final List<Long> fed = new ArrayList<>();
    final List<Integer> batchSizes = new ArrayList<>();
    int capacity;
    boolean closed;

    ScriptedModel(int... script) {
      this(40, script);
    }

    /** Over a {@code vocab}-sized vocabulary; the last scripted token repeats. */
    ScriptedModel(int vocab, int[] script) {
      this.vocab = vocab;
      this.script = script;
    }

    @Override
    public Batch start(List<Prompt> prompts) {
      this.capacity = prompts.stream().mapToInt(Prompt::capacity).max().orElse(0);
      boolean poisoned = prompts.stream().anyMatch(p -> p.ids().length > 1 && p.ids()[1] == POISON);
      if (poisoned) {
        throw new IllegalStateException("CUDA out of memory (simulated)");
      }
      batchSizes.add(prompts.size());
      return new Batch() {
        int[] steps = new int[prompts.size()];

        @Override
        public int size() {
          return steps.length;
        }

        @Override
        public float[] logits(int row) {
          float[] l = new float[vocab];
          l[script[Math.min(steps[row], script.length - 1)]] = 10;
          return l;
        }

        @Override
        public void append(long[] tokens) {
          for (int r = 0; r < tokens.length; r++) {
            fed.add(tokens[r]);
            steps[r]++;
          }
        }

        @Override
        public void keep(int[] rows) {
          int[] kept = new int[rows.length];
          for (int i = 0; i < rows.length; i++) {
            kept[i] = steps[rows[i]];
          }
          steps = kept;
          batchSizes.add(rows.length);
        }

        @Override
        public void close() {
          closed = true;
        }
      };
    }

    @Override
    public int vocabSize() {
      return vocab;
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

  private static Generator.Request request(Generator g, String prompt, int maxTokens) {
    long[] ids = g.promptIds(prompt);
    return new Generator.Request(
        LanguageModel.Prompt.text(ids, maxTokens),
        ids.length - 1,
        () -> new Sampler(null, null, null),
        List.of(),
        () -> false);
  }

  /** Collects a batch's results in the order they were reported. */
  static final class Results implements Generator.Listener {
    final List<Integer> order = new ArrayList<>();
    final java.util.Map<Integer, Generation> done = new java.util.HashMap<>();
    final java.util.Map<Integer, RuntimeException> failed = new java.util.HashMap<>();

    @Override
    public void finished(int request, Generation generation) {
      order.add(request);
      done.put(request, generation);
    }

    @Override
    public void failed(int request, RuntimeException error) {
      order.add(request);
      failed.put(request, error);
    }

    /** The requests reported since the previous step end, one entry per stepEnded call. */
    final List<List<Integer>> steps = new ArrayList<>();

    private int reported;

    @Override
    public void stepEnded() {
      steps.add(List.copyOf(order.subList(reported, order.size())));
      reported = order.size();
    }
  }

  @Test
  void sequencesEndingInTheSameStepAreReportedAsOneGroup() {
    ScriptedModel m = new ScriptedModel(10, 11, 12, 13, 14, 15, 16, 17);
    Generator g = new Generator(m, new LetterTokenizer(), 0, 2);
    Results r = new Results();
    g.generate(
        List.of(request(g, "a", 1), request(g, "b", 3), request(g, "c", 1), request(g, "d", 3)), r);
    // Steps: after the first token 0 and 2 end together; after the third, 1 and 3. The worker
    // commits each group in one transaction. No empty group is reported.
    assertThat(r.steps).containsExactly(List.of(0, 2), List.of(1, 3));
  }

  @Test
  void aSequenceThatEndsEarlyIsReportedAndLeavesTheBatch() {
    ScriptedModel m = new ScriptedModel(10, 11, 12, 13, 14, 15, 16, 17);
    Generator g = new Generator(m, new LetterTokenizer(), 0, 2);
    Results r = new Results();
    g.generate(List.of(request(g, "a", 6), request(g, "b", 2), request(g, "c", 4)), r);
    // Reported in the order they end, not the order submitted.
    assertThat(r.order).containsExactly(1, 2, 0);
    assertThat(r.done.get(0).text()).isEqualTo("abcdef");
    assertThat(r.done.get(1).text()).isEqualTo("ab");
    assertThat(r.done.get(2).text()).isEqualTo("abcd");
    // The batch shrank as sequences ended: 3 rows, then 2, then 1.
    assertThat(m.batchSizes).containsExactly(3, 2, 1);
    // Fed tokens: 3 rows x 1 step, 2 rows x 2 steps, 1 row x 2 steps (never the last token).
    assertThat(m.fed).hasSize(3 + 4 + 2);
  }

  @Test
  void aModelErrorInABatchFailsOnlyTheJobThatCausesIt() {
    ScriptedModel m = new ScriptedModel(10, 11, 2);
    Generator g = new Generator(m, new LetterTokenizer(), 0, 2);
    Results r = new Results();
    long[] poison = {0, ScriptedModel.POISON};
    g.generate(
        List.of(
            request(g, "a", 5),
            new Generator.Request(
                LanguageModel.Prompt.text(poison, 5),
                1,
                () -> new Sampler(null, null, null),
                List.of(),
                () -> false),
            request(g, "c", 5)),
        r);
    assertThat(r.done).containsOnlyKeys(0, 2);
    assertThat(r.done.get(0).text()).isEqualTo("ab");
    assertThat(r.failed).containsOnlyKeys(1);
    assertThat(r.failed.get(1)).hasMessageContaining("out of memory");
    // Rerun one by one, each ends in a group of its own, as soon as it ends.
    assertThat(r.steps.stream().filter(step -> !step.isEmpty()))
        .containsExactly(List.of(0), List.of(1), List.of(2));
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
