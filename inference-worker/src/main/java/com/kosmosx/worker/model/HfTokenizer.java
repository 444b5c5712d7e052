package com.kosmosx.worker.model;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * The model's {@code tokenizer.json} through DJL's Hugging Face tokenizers binding. Truncation is
 * switched off explicitly: the binding otherwise cuts every input at 512 tokens without a word,
 * which would silently drop most of a 20,000-token prompt (and under-bill it).
 */
public final class HfTokenizer implements Tokenizer {
  private final HuggingFaceTokenizer tokenizer;

  public HfTokenizer(Path tokenizerJson) {
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

  @Override
  public long[] encode(String text) {
    return tokenizer.encode(text, false, false).getIds();
  }

  @Override
  public String decode(long[] ids) {
    return tokenizer.decode(ids, false);
  }

  @Override
  public void close() {
    tokenizer.close();
  }
}
