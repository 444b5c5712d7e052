package com.kosmosx.worker.model;

/**
 * A causal language model driven token by token. The decode loop, sampling and stop rules live in
 * Java ({@link com.kosmosx.worker.core.Generator}); implementations only run the network. Kept
 * behind this interface so the loop is testable without libtorch.
 */
public interface LanguageModel extends AutoCloseable {

  /**
   * Prefills the prompt into a KV cache sized for {@code capacity} tokens and returns a sequence
   * whose {@link Sequence#logits()} predict the first new token.
   */
  Sequence start(long[] promptIds, int capacity);

  int vocabSize();

  /** Longest sequence (prompt + generated) the model supports. */
  int maxContext();

  @Override
  void close();

  /** One sequence being generated; owns its KV cache. */
  interface Sequence extends AutoCloseable {
    /** Logits for the next token. */
    float[] logits();

    /** Feeds the chosen token; afterwards {@link #logits()} predict the one after it. */
    void append(long token);

    @Override
    void close();
  }
}
