package com.kosmosx.worker.bench;

import ai.djl.Device;
import com.kosmosx.worker.core.Generation;
import com.kosmosx.worker.core.Generator;
import com.kosmosx.worker.core.Sampler;
import com.kosmosx.worker.model.DjlKosmosModel;
import com.kosmosx.worker.model.HfTokenizer;
import com.kosmosx.worker.model.LanguageModel;
import com.kosmosx.worker.model.ModelDirectory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The engine's figures on a model directory, each against its baseline from the same run:
 *
 * <ol>
 *   <li>decode throughput (tokens/s) at batch 1, 4 and 16 through the real {@link Generator}
 *       (prefill of a short prompt included), ratio to batch 1 (goal: batch 16 ≥ 6×);
 *   <li>per-token decode time at a 1k and a 20k context with the preallocated KV cache, ratio
 *       20k/1k (goal ≤ 2×);
 *   <li>the Java loop's share of batch-1 decode time: wall time outside libtorch calls (sampling,
 *       stop checks, array marshalling) over wall time (goal ≤ 10 %).
 * </ol>
 *
 * Greedy with EOS disabled, so every run decodes the same number of tokens. Prints a table and
 * writes the figures as JSON.
 *
 * <pre>
 *   ./kosmos build
 *   java -cp "$(cat .kosmos/classpath.txt)" com.kosmosx.worker.bench.DecodeBenchmark \
 *       [--model model/tiny-kosmos] [--tokens 128] [--runs 5] [--device cpu] [--json out.json]
 *       [--batches 1,4,16] [--long-context 19900 (0: skip the context figures)]
 * </pre>
 *
 * It also reports the load (model file to a ready engine, start-up check included) and the
 * process's resident memory after loading and at its peak. The long-context point is capped by the
 * model's own {@code max_context} (2,048 positions for Kosmos-2's weights).
 *
 * <pre>
 * </pre>
 */
public final class DecodeBenchmark {
  private DecodeBenchmark() {}

  public static void main(String[] args) throws Exception {
    System.setProperty("ai.djl.offline", "true");
    Map<String, String> opt = options(args);
    Path dir = Path.of(opt.getOrDefault("model", "model/tiny-kosmos"));
    int tokens = Integer.parseInt(opt.getOrDefault("tokens", "128"));
    int runs = Integer.parseInt(opt.getOrDefault("runs", "5"));
    String deviceName = opt.getOrDefault("device", "cpu");
    Device device = deviceName.equals("cpu") ? Device.cpu() : Device.fromName(deviceName);
    int[] batchSizes =
        Arrays.stream(opt.getOrDefault("batches", "1,4,16").split(","))
            .mapToInt(Integer::parseInt)
            .toArray();
    ModelDirectory model = ModelDirectory.open(dir);
    Map<String, Object> json = new LinkedHashMap<>();
    long loadStart = System.nanoTime();
    try (DjlKosmosModel m = new DjlKosmosModel(model, device, 512);
        HfTokenizer tok = new HfTokenizer(model.tokenizer())) {
      m.selfTest();
      double loadSeconds = (System.nanoTime() - loadStart) / 1e9;
      long rssLoaded = procStatusKb("VmRSS");
      System.out.printf(
          Locale.ROOT,
          "  load %.1f s (model file to a checked engine), resident memory %d MB%n",
          loadSeconds,
          rssLoaded / 1024);
      json.put("load_seconds", round(loadSeconds));
      json.put("rss_after_load_mb", rssLoaded / 1024);
      // EOS set to an id the model never produces: every run decodes exactly `tokens` tokens.
      Generator g = new Generator(m, tok, model.config().bosTokenId(), -1);
      json.put("model", dir.toString());
      json.put("device", device.toString());
      json.put("threads", Runtime.getRuntime().availableProcessors());
      System.out.printf(
          Locale.ROOT,
          "engine benchmark: model=%s device=%s, %d cores, greedy, %d tokens per sequence%n",
          dir,
          device,
          Runtime.getRuntime().availableProcessors(),
          tokens);

      // 1. Throughput by batch size.
      long[] prompt = prompt(g, 16);
      double base = 0;
      Map<String, Object> batches = new LinkedHashMap<>();
      System.out.println("  batch | tokens/s | ms/step | vs batch 1");
      for (int b : batchSizes) {
        runBatch(g, prompt, b, tokens); // warm-up
        long t0 = System.nanoTime();
        for (int i = 0; i < runs; i++) {
          runBatch(g, prompt, b, tokens);
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        double tps = (double) b * tokens * runs / secs;
        if (b == 1) {
          base = tps;
        }
        System.out.printf(
            Locale.ROOT,
            "  %5d | %8.0f | %7.3f | %5.2fx%n",
            b,
            tps,
            secs * 1000 / (runs * tokens),
            tps / base);
        batches.put(
            String.valueOf(b), Map.of("tokens_per_s", round(tps), "ratio", round(tps / base)));
      }
      json.put("batch", batches);

      // 2. Per-token decode time by context length (decode steps only, after the prefill).
      boolean contexts = !opt.getOrDefault("long-context", "19900").equals("0");
      int longContext =
          Math.min(
              Integer.parseInt(opt.getOrDefault("long-context", "19900")),
              model.config().maxContext() - 64 - 1);
      double at1k = contexts ? perToken(m, g, Math.min(1_000, longContext / 2), 64) : 0;
      double at20k = contexts ? perToken(m, g, longContext, 64) : 0;
      if (contexts) {
        System.out.printf(
            Locale.ROOT,
            "  decode ms/token at 1k context %.3f, at %d %.3f: ratio %.2fx (goal <= 2x)%n",
            at1k,
            longContext,
            at20k,
            at20k / at1k);
        json.put(
            "context",
            Map.of(
                "ms_per_token_1k",
                round(at1k),
                "ms_per_token_20k",
                round(at20k),
                "long_context",
                longContext,
                "ratio",
                round(at20k / at1k)));
      }

      // 3. Java overhead at batch 1.
      long native0 = m.nativeNanos();
      long t0 = System.nanoTime();
      for (int i = 0; i < runs; i++) {
        runBatch(g, prompt, 1, tokens);
      }
      long wall = System.nanoTime() - t0;
      long nat = m.nativeNanos() - native0;
      double share = 100.0 * (wall - nat) / wall;
      System.out.printf(
          Locale.ROOT, "  Java loop share of batch-1 decode time %.1f %% (goal <= 10 %%)%n", share);
      json.put("java_overhead_percent", round(share));
      long peak = procStatusKb("VmHWM");
      System.out.printf(Locale.ROOT, "  peak resident memory %d MB%n", peak / 1024);
      json.put("rss_peak_mb", peak / 1024);
    }
    String out = opt.get("json");
    if (out != null) {
      Files.writeString(Path.of(out), com.kosmosx.contracts.Json.mapper().writeValueAsString(json));
      System.out.println("  wrote " + out);
    }
  }

  /** A field of /proc/self/status in kB (Linux), or -1 elsewhere. */
  private static long procStatusKb(String field) {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith(field + ":")) {
          return Long.parseLong(line.replaceAll("[^0-9]", ""));
        }
      }
    } catch (java.io.IOException | RuntimeException e) {
      return -1;
    }
    return -1;
  }

  private static double round(double v) {
    return Math.round(v * 1000) / 1000.0;
  }

  private static Map<String, String> options(String[] args) {
    Map<String, String> m = new LinkedHashMap<>();
    for (int i = 0; i + 1 < args.length; i += 2) {
      if (!args[i].startsWith("--")) {
        throw new IllegalArgumentException("expected --name value pairs, got " + args[i]);
      }
      m.put(args[i].substring(2), args[i + 1]);
    }
    return m;
  }

  private static long[] prompt(Generator g, int tokens) {
    StringBuilder text = new StringBuilder();
    long[] ids = g.promptIds("");
    while (ids.length <= tokens) {
      text.append("The quick brown fox jumps over the lazy dog. ");
      ids = g.promptIds(text.toString());
    }
    return Arrays.copyOf(ids, tokens);
  }

  private static void runBatch(Generator g, long[] prompt, int batch, int tokens) {
    List<Generator.Request> requests = new ArrayList<>();
    for (int i = 0; i < batch; i++) {
      requests.add(
          new Generator.Request(
              LanguageModel.Prompt.text(prompt, tokens),
              prompt.length - 1,
              () -> new Sampler(null, null, null),
              List.of(),
              () -> false));
    }
    int[] done = new int[1];
    g.generate(
        requests,
        new Generator.Listener() {
          @Override
          public void finished(int request, Generation generation) {
            done[0]++;
          }

          @Override
          public void failed(int request, RuntimeException error) {
            throw error;
          }
        });
    if (done[0] != batch) {
      throw new IllegalStateException("only " + done[0] + " of " + batch + " finished");
    }
  }

  /** Mean milliseconds per decode step after a {@code context}-token prefill (best of 3). */
  private static double perToken(DjlKosmosModel m, Generator g, int context, int steps) {
    long[] prompt = prompt(g, context);
    double best = Double.MAX_VALUE;
    for (int run = 0; run < 3; run++) {
      try (LanguageModel.Batch b = m.start(List.of(LanguageModel.Prompt.text(prompt, steps)))) {
        long t0 = System.nanoTime();
        for (int i = 0; i < steps; i++) {
          b.append(new long[] {argmax(b.logits(0))});
        }
        best = Math.min(best, (System.nanoTime() - t0) / 1e6 / steps);
      }
    }
    return best;
  }

  private static int argmax(float[] l) {
    int b = 0;
    for (int i = 1; i < l.length; i++) {
      if (l[i] > l[b]) {
        b = i;
      }
    }
    return b;
  }
}
