package com.kosmosx.worker.model;

import ai.djl.Device;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.kosmosx.worker.core.Generation;
import com.kosmosx.worker.core.Generator;
import com.kosmosx.worker.core.PromptFormat;
import com.kosmosx.worker.core.Sampler;
import com.kosmosx.worker.vision.Grounding;
import com.kosmosx.worker.vision.ImagePreprocessor;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code ./kosmos model verify DIR}: loads a model directory exactly as the worker does (DJL's
 * PyTorch engine, the directory's tokenizer, the worker's prompt layout, image preprocessing and
 * grounding) and checks it against the {@code golden.json} that {@code scripts/export_kosmos2.py}
 * wrote from Hugging Face itself:
 *
 * <ul>
 *   <li>{@code tokenizer}: the tokenizer's ids for each text;
 *   <li>{@code prompts}: the prompt ids the worker builds equal the processor's, and greedy tokens
 *       equal Hugging Face's {@code generate}, each prompt alone and all of them in one batch;
 *   <li>{@code grounding}: decoding generated ids and the worker's grounding post-processing give
 *       the processor's {@code post_process_generation} text and entities (boxes to 1e-6).
 * </ul>
 *
 * Exit status 0 when everything matches; 1 with the first differences listed; 2 when the directory
 * cannot be read.
 */
public final class ModelVerify {
  private ModelVerify() {}

  public static void main(String[] args) throws Exception {
    if (args.length != 1) {
      System.err.println("usage: kosmos model verify DIR");
      System.exit(2);
    }
    // The engine's libraries log at debug by default: keep the report readable.
    ((ch.qos.logback.classic.Logger)
            org.slf4j.LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME))
        .setLevel(ch.qos.logback.classic.Level.WARN);
    List<String> differences;
    try {
      differences = verify(Path.of(args[0]), System.out);
    } catch (IOException | RuntimeException e) {
      System.err.println("cannot verify " + args[0] + ": " + e.getMessage());
      System.exit(2);
      return;
    }
    if (differences.isEmpty()) {
      System.out.println("model verify: " + args[0] + " matches its golden.json");
      System.exit(0);
    }
    System.out.println("model verify: " + differences.size() + " difference(s):");
    differences.stream().limit(20).forEach(d -> System.out.println("  " + d));
    System.exit(1);
  }

  /** Every difference from the golden file; empty when the directory matches. */
  public static List<String> verify(Path dir, java.io.PrintStream log) throws IOException {
    Path goldenFile = dir.resolve("golden.json");
    if (!Files.isRegularFile(goldenFile)) {
      throw new IOException(goldenFile + " is missing (scripts/export_kosmos2.py writes it)");
    }
    JsonNode golden = new ObjectMapper().readTree(goldenFile.toFile());
    if (golden.path("prompts").size() == 0) {
      // Nothing to compare is not a pass.
      throw new IOException(
          goldenFile + " has no prompts: it was not written by scripts/export_kosmos2.py");
    }
    ModelDirectory md = ModelDirectory.open(dir);
    ModelConfig config = md.config();
    List<String> diffs = new ArrayList<>();
    try (DjlKosmosModel model = new DjlKosmosModel(md, Device.cpu(), 512);
        HfTokenizer tokenizer = new HfTokenizer(md.tokenizer())) {
      model.selfTest();
      for (JsonNode c : golden.path("tokenizer")) {
        String text = c.path("text").asText();
        long[] ours = tokenizer.encode(text);
        if (!Arrays.equals(ours, ids(c.path("ids")))) {
          diffs.add(
              "tokenizer " + quote(text) + ": " + Arrays.toString(ours) + " != " + c.path("ids"));
        }
        if (c.has("decoded")) {
          String decoded = tokenizer.decode(ids(c.path("ids")));
          if (!decoded.equals(c.path("decoded").asText())) {
            diffs.add(
                "tokenizer "
                    + quote(text)
                    + ": decodes to "
                    + quote(decoded)
                    + " != "
                    + quote(c.path("decoded").asText()));
          }
        }
      }
      Generator generator =
          new Generator(model, tokenizer, config.bosTokenId(), config.eosTokenId());
      PromptFormat format = PromptFormat.of(config);
      ImagePreprocessor images = new ImagePreprocessor(config);
      List<Generator.Request> requests = new ArrayList<>();
      List<long[]> expected = new ArrayList<>();
      List<String> names = new ArrayList<>();
      for (JsonNode c : golden.path("prompts")) {
        String name = c.path("name").asText();
        String text = c.path("text").asText();
        long[] prompt;
        LanguageModel.Prompt p;
        int max = c.path("max_tokens").asInt();
        if (c.has("image")) {
          prompt = format.imagePrompt(tokenizer.encode(text), false);
          JsonNode img = c.path("image");
          float[] pixels;
          if (img.has("png_base64")) {
            // The worker's own path: decode, convert, resize, normalise.
            pixels = images.fromBase64(img.path("png_base64").asText());
            int side = config.imageSize();
            for (JsonNode at : img.path("pixel_values_sample")) {
              int i = (at.get(0).asInt() * side + at.get(1).asInt()) * side + at.get(2).asInt();
              float want = (float) at.get(3).asDouble();
              if (Math.abs(pixels[i] - want) > 1e-6f) {
                diffs.add(
                    "prompt "
                        + name
                        + ": pixel_values["
                        + at.get(0).asInt()
                        + ","
                        + at.get(1).asInt()
                        + ","
                        + at.get(2).asInt()
                        + "] "
                        + pixels[i]
                        + " != the processor's "
                        + want);
              }
            }
          } else {
            pixels =
                images.pixels(
                    solid(
                        img.path("width").asInt(),
                        img.path("height").asInt(),
                        img.path("rgb").get(0).asInt(),
                        img.path("rgb").get(1).asInt(),
                        img.path("rgb").get(2).asInt()));
          }
          p = new LanguageModel.Prompt(prompt, max, pixels, format.imageOffset());
        } else {
          prompt = generator.promptIds(text);
          p = LanguageModel.Prompt.text(prompt, max);
        }
        if (!Arrays.equals(prompt, ids(c.path("prompt_ids")))) {
          diffs.add(
              "prompt "
                  + name
                  + ": ids "
                  + Arrays.toString(prompt)
                  + " != the processor's "
                  + c.path("prompt_ids"));
        }
        long[] want = withoutEos(ids(c.path("ids")), config.eosTokenId());
        Generator.Request r =
            new Generator.Request(
                p, prompt.length, () -> new Sampler(null, null, null), List.of(), () -> false);
        Generation alone = run(generator, List.of(r)).get(0);
        if (!Arrays.equals(alone.tokenIds(), want)) {
          diffs.add(
              "prompt "
                  + name
                  + ": greedy tokens "
                  + Arrays.toString(alone.tokenIds())
                  + " != Hugging Face's "
                  + Arrays.toString(want));
        }
        if (c.has("grounding")) {
          // The worker's image answer (its text, parsed) against post_process_generation.
          Grounding.Result g = Grounding.parse(alone.text());
          String entities = compare("prompt " + name, g, c.path("grounding"), diffs);
          log.printf("prompt %s: %s %s%n", name, quote(g.text()), entities);
        } else {
          log.printf("prompt %s: %s%n", name, quote(alone.text()));
        }
        log.printf("prompt %s: %d prompt ids, %d tokens%n", name, prompt.length, want.length);
        requests.add(r);
        expected.add(want);
        names.add(name);
      }
      List<Generation> batched = run(generator, requests);
      for (int i = 0; i < requests.size(); i++) {
        if (!Arrays.equals(batched.get(i).tokenIds(), expected.get(i))) {
          diffs.add(
              "prompt "
                  + names.get(i)
                  + " in a batch of "
                  + requests.size()
                  + ": "
                  + Arrays.toString(batched.get(i).tokenIds())
                  + " != "
                  + Arrays.toString(expected.get(i)));
        }
      }
      // Hugging Face's own left-padded batch of the text prompts, where it equals each alone.
      JsonNode hfBatch = golden.path("batch");
      for (int j = 0; j < hfBatch.path("ids").size(); j++) {
        int i = names.indexOf(hfBatch.path("names").get(j).asText());
        long[] want = withoutEos(ids(hfBatch.path("ids").get(j)), config.eosTokenId());
        if (i < 0 || !Arrays.equals(batched.get(i).tokenIds(), want)) {
          diffs.add(
              "prompt "
                  + hfBatch.path("names").get(j).asText()
                  + ": batched tokens differ from Hugging Face's batched generate "
                  + Arrays.toString(want));
        }
      }
      for (JsonNode c : golden.path("grounding")) {
        Grounding.Result g = Grounding.parse(tokenizer.decode(ids(c.path("ids"))));
        compare("grounding " + quote(c.path("decoded").asText()), g, c, diffs);
      }
    }
    return diffs;
  }

  private static List<Generation> run(Generator g, List<Generator.Request> requests) {
    Map<Integer, Generation> done = new HashMap<>();
    Map<Integer, RuntimeException> failed = new HashMap<>();
    g.generate(
        requests,
        new Generator.Listener() {
          @Override
          public void finished(int request, Generation generation) {
            done.put(request, generation);
          }

          @Override
          public void failed(int request, RuntimeException error) {
            failed.put(request, error);
          }
        });
    if (!failed.isEmpty()) {
      throw failed.values().iterator().next();
    }
    List<Generation> out = new ArrayList<>();
    for (int i = 0; i < requests.size(); i++) {
      out.add(done.get(i));
    }
    return out;
  }

  private static BufferedImage solid(int w, int h, int r, int g, int b) {
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    Graphics2D gr = img.createGraphics();
    gr.setColor(new Color(r, g, b));
    gr.fillRect(0, 0, w, h);
    gr.dispose();
    return img;
  }

  private static long[] ids(JsonNode array) {
    long[] out = new long[array.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = array.get(i).asLong();
    }
    return out;
  }

  private static long[] withoutEos(long[] ids, long eos) {
    return ids.length > 0 && ids[ids.length - 1] == eos ? Arrays.copyOf(ids, ids.length - 1) : ids;
  }

  /**
   * Our parsed grounding against Hugging Face's {@code post_process_generation} ({@code text} and
   * {@code entities} of {@code hf}); adds what differs to {@code diffs} under {@code label} and
   * returns our entities as text.
   */
  private static String compare(
      String label, Grounding.Result ours, JsonNode hf, List<String> diffs) {
    if (!ours.text().equals(hf.path("text").asText())) {
      diffs.add(
          label
              + ": text "
              + quote(ours.text())
              + " != Hugging Face's "
              + quote(hf.path("text").asText()));
    }
    String entities = entities(ours.entities());
    String want = golden(hf.path("entities"));
    if (!entities.equals(want)) {
      diffs.add(label + ": entities " + entities + " != " + want);
    }
    return entities;
  }

  /** Entities as comparable text: label, span and boxes rounded to 1e-6. */
  private static String entities(List<Grounding.Entity> list) {
    StringBuilder b = new StringBuilder("[");
    for (Grounding.Entity e : list) {
      b.append(e.label()).append('@').append(e.start()).append('-').append(e.end());
      for (var box : e.boxes()) {
        b.append(box(box.x0(), box.y0(), box.x1(), box.y1()));
      }
      b.append(';');
    }
    return b.append(']').toString();
  }

  private static String golden(JsonNode list) {
    StringBuilder b = new StringBuilder("[");
    for (JsonNode e : list) {
      b.append(e.path("label").isNull() ? "null" : e.path("label").asText())
          .append('@')
          .append(e.path("start").asInt())
          .append('-')
          .append(e.path("end").asInt());
      for (JsonNode box : e.path("boxes")) {
        b.append(
            box(
                box.get(0).asDouble(),
                box.get(1).asDouble(),
                box.get(2).asDouble(),
                box.get(3).asDouble()));
      }
      b.append(';');
    }
    return b.append(']').toString();
  }

  /** A box to 1e-6, the precision both sides are compared at. */
  private static String box(double x0, double y0, double x1, double y1) {
    return String.format(java.util.Locale.ROOT, "(%.6f,%.6f,%.6f,%.6f)", x0, y0, x1, y1);
  }

  private static String quote(String s) {
    return '"' + s.replace("\n", "\\n") + '"';
  }
}
