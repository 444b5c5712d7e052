package com.kosmosx.worker.core;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks the next token: greedy when temperature is 0 (the default), otherwise temperature and
 * nucleus (top-p) sampling from a seeded generator, so the same seed gives the same text.
 */
public final class Sampler {
  private final double temperature;
  private final double topP;
  private final SplittableRandom random;

  public Sampler(Double temperature, Double topP, Long seed) {
    this.temperature = temperature == null ? 0 : temperature;
    this.topP = topP == null ? 1 : topP;
    this.random = seed == null ? new SplittableRandom() : new SplittableRandom(seed);
  }

  public boolean greedy() {
    return temperature == 0;
  }

  public int pick(float[] logits) {
    if (greedy()) {
      return argmax(logits);
    }
    double max = Double.NEGATIVE_INFINITY;
    for (float l : logits) {
      max = Math.max(max, l);
    }
    double[] p = new double[logits.length];
    double sum = 0;
    for (int i = 0; i < logits.length; i++) {
      p[i] = Math.exp((logits[i] - max) / temperature);
      sum += p[i];
    }
    Integer[] order = null;
    int n = logits.length;
    if (topP < 1) {
      order = new Integer[n];
      for (int i = 0; i < n; i++) {
        order[i] = i;
      }
      final double[] probs = p;
      Arrays.sort(order, (a, b) -> Double.compare(probs[b], probs[a]));
      double kept = 0;
      int k = 0;
      while (k < n && kept < topP * sum) {
        kept += p[order[k]];
        k++;
      }
      n = Math.max(1, k);
      sum = kept;
    }
    double r = random.nextDouble() * sum;
    for (int j = 0; j < n; j++) {
      int i = order == null ? j : order[j];
      r -= p[i];
      if (r <= 0) {
        return i;
      }
    }
    return order == null ? logits.length - 1 : order[n - 1];
  }

  static int argmax(float[] logits) {
    int best = 0;
    for (int i = 1; i < logits.length; i++) {
      if (logits[i] > logits[best]) {
        best = i;
      }
    }
    return best;
  }
}
