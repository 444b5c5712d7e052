package com.kosmosx.worker.core;

import com.kosmosx.worker.model.LanguageModel;
import com.kosmosx.worker.model.Tokenizer;
import java.util.Arrays;
import java.util.List;
import java.util.function.BooleanSupplier;

/**
 * The Java decode loop: prefill, then pick and feed one token at a time until EOS, a stop sequence,
 * {@code max_tokens} or cancellation. Stop sequences are checked on the decoded tail only, so each
 * step costs O(stop length), not O(output length).
 */
public final class Generator {
  private final LanguageModel model;
  private final Tokenizer tokenizer;
  private final long bosId;
  private final long eosId;

  public Generator(LanguageModel model, Tokenizer tokenizer, long bosId, long eosId) {
    this.model = model;
    this.tokenizer = tokenizer;
    this.bosId = bosId;
    this.eosId = eosId;
  }

  /** Prompt ids as the model sees them: {@code <s>} followed by the tokenizer's ids. */
  public long[] promptIds(String prompt) {
    long[] ids = tokenizer.encode(prompt);
    long[] withBos = new long[ids.length + 1];
    withBos[0] = bosId;
    System.arraycopy(ids, 0, withBos, 1, ids.length);
    return withBos;
  }

  public Generation generate(
      long[] promptIds,
      int maxTokens,
      Sampler sampler,
      List<String> stop,
      BooleanSupplier stopNow) {
    int inputTokens = promptIds.length - 1;
    long[] out = new long[maxTokens];
    int n = 0;
    String finish = "length";
    int tail =
        stop == null || stop.isEmpty()
            ? 0
            : stop.stream().mapToInt(String::length).max().orElse(0) + 8;
    try (LanguageModel.Sequence seq = model.start(promptIds, promptIds.length + maxTokens)) {
      while (n < maxTokens) {
        if (stopNow.getAsBoolean()) {
          throw new GenerationInterrupted("generation stopped after " + n + " tokens");
        }
        int token = sampler.pick(seq.logits());
        if (token == eosId) {
          finish = "stop";
          break;
        }
        out[n++] = token;
        if (tail > 0) {
          String recent = tokenizer.decode(Arrays.copyOfRange(out, Math.max(0, n - tail), n));
          if (stop.stream().anyMatch(recent::contains)) {
            finish = "stop";
            break;
          }
        }
        if (n < maxTokens) {
          seq.append(token);
        }
      }
    }
    long[] ids = Arrays.copyOf(out, n);
    String text = tokenizer.decode(ids);
    if (stop != null) {
      int cut = text.length();
      for (String s : stop) {
        int i = text.indexOf(s);
        if (i >= 0) {
          cut = Math.min(cut, i);
        }
      }
      text = text.substring(0, cut);
    }
    return new Generation(text, ids, inputTokens, finish);
  }

  /** The job was canceled or ran out of time while generating. */
  public static final class GenerationInterrupted extends RuntimeException {
    public GenerationInterrupted(String message) {
      super(message);
    }
  }
}
