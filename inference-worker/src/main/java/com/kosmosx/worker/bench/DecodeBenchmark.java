package com.kosmosx.worker.bench;

import ai.djl.Device;
import com.kosmosx.worker.core.Generation;
import com.kosmosx.worker.core.Generator;
import com.kosmosx.worker.core.Sampler;
import com.kosmosx.worker.model.DjlKosmosModel;
import com.kosmosx.worker.model.HfTokenizer;
import com.kosmosx.worker.model.ModelDirectory;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * Decode-step cost of the Java loop on a model directory: tokens per second, and the share of wall
 * time spent outside libtorch calls (Java overhead: sampling, tokenizer tail checks, array
 * marshalling). Runs the real generator, greedy, with EOS ignored so every run decodes the same
 * number of tokens.
 *
 * <pre>
 *   ./kosmos build
 *   java -cp "$(cat .kosmos/classpath.txt)" com.kosmosx.worker.bench.DecodeBenchmark \
 *       [model/tiny-kosmos] [tokens=256] [runs=10] [prompt tokens=16]
 * </pre>
 */
public final class DecodeBenchmark {
  private DecodeBenchmark() {}

  public static void main(String[] args) throws Exception {
    System.setProperty("ai.djl.offline", "true");
    Path dir = Path.of(args.length > 0 ? args[0] : "model/tiny-kosmos");
    int tokens = args.length > 1 ? Integer.parseInt(args[1]) : 256;
    int runs = args.length > 2 ? Integer.parseInt(args[2]) : 10;
    int promptTokens = args.length > 3 ? Integer.parseInt(args[3]) : 16;
    ModelDirectory model = ModelDirectory.open(dir);
    try (DjlKosmosModel m = new DjlKosmosModel(model, Device.cpu(), 512);
        HfTokenizer tok = new HfTokenizer(model.tokenizer())) {
      // EOS set to an id the model never produces: every run decodes exactly `tokens` tokens.
      Generator g = new Generator(m, tok, model.config().bosTokenId(), -1);
      long[] prompt = prompt(g, promptTokens);
      run(g, prompt, tokens); // warm-up: JIT, libtorch kernels, allocator
      long native0 = m.nativeNanos();
      long t0 = System.nanoTime();
      long produced = 0;
      for (int i = 0; i < runs; i++) {
        produced += run(g, prompt, tokens).outputTokens();
      }
      long wall = System.nanoTime() - t0;
      long nat = m.nativeNanos() - native0;
      System.out.printf(
          Locale.ROOT,
          "decode benchmark: model=%s prompt=%d tokens, %d runs x %d tokens, %d threads%n",
          dir,
          prompt.length,
          runs,
          tokens,
          Runtime.getRuntime().availableProcessors());
      System.out.printf(
          Locale.ROOT,
          "  tokens/s (incl. prefill)   %.1f%n  ms/token                   %.3f%n"
              + "  share inside libtorch      %.1f %%%n  share outside (Java loop)  %.1f %%%n",
          produced / (wall / 1e9),
          wall / 1e6 / produced,
          100.0 * nat / wall,
          100.0 * (wall - nat) / wall);
    }
  }

  private static long[] prompt(Generator g, int tokens) {
    StringBuilder text = new StringBuilder();
    long[] ids = g.promptIds("");
    while (ids.length <= tokens) {
      text.append("The quick brown fox jumps over the lazy dog. ");
      ids = g.promptIds(text.toString());
    }
    return java.util.Arrays.copyOf(ids, tokens);
  }

  private static Generation run(Generator g, long[] prompt, int tokens) {
    return g.generate(prompt, tokens, new Sampler(null, null, null), List.of(), () -> false);
  }
}
