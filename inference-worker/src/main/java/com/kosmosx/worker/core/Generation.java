package com.kosmosx.worker.core;

/**
 * What one generation produced.
 *
 * @param text decoded output (stop sequence and EOS excluded)
 * @param tokenIds generated ids (EOS excluded)
 * @param inputTokens prompt tokens as counted by the model's tokenizer
 * @param finishReason {@code stop} (EOS or a stop sequence) or {@code length} (max_tokens)
 */
public record Generation(String text, long[] tokenIds, int inputTokens, String finishReason) {

  public int outputTokens() {
    return tokenIds.length;
  }
}
