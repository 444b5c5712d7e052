package com.kosmosx.worker.model;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code config.json} of a model directory: the facts the Java side needs to drive the TorchScript
 * methods. Written by {@code scripts/export_kosmos2.py} (the shipped tiny model and real weights).
 */
public record ModelConfig(
    String modelType,
    int imageSize,
    double[] imageMean,
    double[] imageStd,
    int numImageTokens,
    int maxContext,
    int hiddenSize,
    int numLayers,
    int numHeads,
    int headDim,
    int vocabSize,
    int bosTokenId,
    int padTokenId,
    int eosTokenId,
    int unkTokenId,
    int imageTokenId,
    int imageEndTokenId,
    int groundingTokenId,
    int patchIndexTokenOffset,
    int numPatchIndexTokens,
    String dtype) {

  /** True for weights exported with {@code --fp16}: caches and pixels are half precision too. */
  public boolean halfPrecision() {
    return "float16".equals(dtype);
  }

  private static final ObjectMapper MAPPER =
      new ObjectMapper()
          .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
          .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

  public static ModelConfig read(Path file) throws IOException {
    ModelConfig c = MAPPER.readValue(file.toFile(), ModelConfig.class);
    List<String> problems = c.problems();
    if (!problems.isEmpty()) {
      throw new IllegalArgumentException(file + " is invalid: " + String.join("; ", problems));
    }
    return c;
  }

  List<String> problems() {
    List<String> p = new ArrayList<>();
    if (maxContext < 1) {
      p.add("max_context is missing or not positive");
    }
    if (vocabSize < 1) {
      p.add("vocab_size is missing or not positive");
    }
    if (numLayers < 1 || numHeads < 1 || headDim < 1) {
      p.add("num_layers, num_heads and head_dim are required");
    }
    if (imageSize < 1 || numImageTokens < 1) {
      p.add("image_size and num_image_tokens are required");
    }
    if (imageMean == null || imageMean.length != 3 || imageStd == null || imageStd.length != 3) {
      p.add("image_mean and image_std need three values each");
    }
    if (dtype != null && !dtype.equals("float32") && !dtype.equals("float16")) {
      p.add("dtype must be float32 or float16, not " + dtype);
    }
    if (eosTokenId < 0 || eosTokenId >= Math.max(vocabSize, 1)) {
      p.add("eos_token_id is outside the vocabulary");
    }
    return p;
  }
}
