package com.kosmosx.api.jobs;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Counts prompt tokens at submit time with the model's own {@code tokenizer.json}, exactly as the
 * worker will (no special tokens added, truncation off: DJL's binding otherwise cuts at 512 tokens
 * and would let an over-long prompt through).
 */
public final class PromptTokenizer implements AutoCloseable {
  private final HuggingFaceTokenizer tokenizer;

  public PromptTokenizer(Path tokenizerJson) {
    if (!Files.isRegularFile(tokenizerJson)) {
      throw new IllegalArgumentException(
          "tokenizer "
              + tokenizerJson.toAbsolutePath()
              + " does not exist (set jobs.tokenizer / KOSMOS_TOKENIZER to the model's"
              + " tokenizer.json)");
    }
    System.setProperty("ai.djl.offline", "true");
    try {
      tokenizer =
          HuggingFaceTokenizer.newInstance(
              tokenizerJson,
              Map.of(
                  "addSpecialTokens", "false",
                  "truncation", "false",
                  "padding", "false",
                  "maxLength", "1000000"));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot load tokenizer " + tokenizerJson, e);
    }
  }

  public int count(String text) {
    return tokenizer.encode(text, false, false).getIds().length;
  }

  @Override
  public void close() {
    tokenizer.close();
  }
}
