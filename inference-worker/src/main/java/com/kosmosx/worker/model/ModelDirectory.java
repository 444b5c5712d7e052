package com.kosmosx.worker.model;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The model directory contract: {@code model.pt} (TorchScript with encode_image, prefill,
 * decode_step), {@code tokenizer.json} (Hugging Face) and {@code config.json} ({@link
 * ModelConfig}). Checked at start-up so a bad deployment fails with a message naming what is
 * missing rather than at the first job.
 */
public record ModelDirectory(Path root, ModelConfig config) {
  public static final String MODEL_FILE = "model.pt";
  public static final String TOKENIZER_FILE = "tokenizer.json";
  public static final String CONFIG_FILE = "config.json";

  public static ModelDirectory open(Path root) {
    List<String> missing = new ArrayList<>();
    if (!Files.isDirectory(root)) {
      throw new IllegalArgumentException(
          "model directory " + root.toAbsolutePath() + " does not exist");
    }
    for (String f : List.of(MODEL_FILE, TOKENIZER_FILE, CONFIG_FILE)) {
      if (!Files.isRegularFile(root.resolve(f))) {
        missing.add(f);
      }
    }
    if (!missing.isEmpty()) {
      throw new IllegalArgumentException(
          "model directory " + root.toAbsolutePath() + " lacks " + String.join(", ", missing));
    }
    try {
      return new ModelDirectory(root, ModelConfig.read(root.resolve(CONFIG_FILE)));
    } catch (IOException e) {
      throw new IllegalArgumentException(
          "cannot read " + root.resolve(CONFIG_FILE) + ": " + e.getMessage(), e);
    }
  }

  public Path model() {
    return root.resolve(MODEL_FILE);
  }

  public Path tokenizer() {
    return root.resolve(TOKENIZER_FILE);
  }
}
