package com.kosmosx.worker.model;

import java.util.List;

/**
 * A causal language model driven one step at a time over a batch of sequences. The decode loop,
 * sampling and stop rules live in Java ({@link com.kosmosx.worker.core.Generator}); implementations
 * only run the network. Kept behind this interface so the loop is testable without libtorch.
 */
public interface LanguageModel extends AutoCloseable {

  /**
   * Prefills the prompts together (left-padded to the longest, with padding masked out of
   * attention) into one KV cache with room for each prompt's new tokens, and returns a batch whose
   * {@link Batch#logits(int)} predict each sequence's first new token.
   */
  Batch start(List<Prompt> prompts);

  /**
   * As {@link #start(List)}, checking {@code abort} between prefill chunks: a long prompt's prefill
   * (seconds at 20,000 tokens) stops early when every sequence is canceled or out of time, by
   * throwing {@link Aborted}.
   */
  default Batch start(List<Prompt> prompts, java.util.function.BooleanSupplier abort) {
    return start(prompts);
  }

  /** The prefill was abandoned because {@code abort} said so. */
  final class Aborted extends RuntimeException {
    public Aborted() {
      super("prefill abandoned", null, false, false);
    }
  }

  int vocabSize();

  /** Longest sequence (prompt + generated) the model supports. */
  int maxContext();

  @Override
  void close();

  /**
   * One prompt to prefill.
   *
   * @param ids token ids, starting with {@code <s>}
   * @param maxNewTokens how many tokens may be appended after the prompt
   * @param pixels for an image prompt, the normalised image [3,S,S] in row-major order; else null
   * @param imageStart index in {@code ids} of the first of the image's placeholder tokens
   */
  record Prompt(long[] ids, int maxNewTokens, float[] pixels, int imageStart) {
    public static Prompt text(long[] ids, int maxNewTokens) {
      return new Prompt(ids, maxNewTokens, null, 0);
    }

    public int capacity() {
      return ids.length + maxNewTokens;
    }
  }

  /**
   * Sequences being generated together; owns their KV cache. Rows are numbered 0..size()-1 in the
   * order of the prompts, and renumbered (order kept) by {@link #keep(int[])}.
   */
  interface Batch extends AutoCloseable {
    int size();

    /** Logits for row {@code row}'s next token. */
    float[] logits(int row);

    /** Feeds one token per row; afterwards {@link #logits(int)} predict the ones after them. */
    void append(long[] tokens);

    /**
     * Keeps only these rows (ascending), releasing the others' share of the work: a sequence that
     * has finished leaves the batch at once instead of riding along until the longest one ends.
     */
    void keep(int[] rows);

    @Override
    void close();
  }
}
