package com.kosmosx.worker.core;

import com.kosmosx.worker.model.ModelConfig;

/**
 * How a Kosmos prompt is laid out: {@code <s>} then, for an image, {@code <image>} + one
 * placeholder per image embedding + {@code </image>}, then {@code <grounding>} when objects are
 * wanted, then the prompt's own tokens. The placeholders' embeddings are replaced by the image's;
 * their ids are Hugging Face's {@code Kosmos2Processor}'s ({@code unk+1 … unk+64}), so a prompt's
 * ids equal the processor's exactly.
 */
public record PromptFormat(
    long bos,
    long imageStart,
    long imageEnd,
    long firstPlaceholder,
    int numImageTokens,
    long grounding) {

  public static PromptFormat of(ModelConfig c) {
    return new PromptFormat(
        c.bosTokenId(),
        c.imageTokenId(),
        c.imageEndTokenId(),
        c.unkTokenId() + 1L,
        c.numImageTokens(),
        c.groundingTokenId());
  }

  /** Index of the first placeholder in an image prompt. */
  public int imageOffset() {
    return 2;
  }

  /** Ids of an image prompt: the image block, {@code <grounding>} if asked, then {@code text}. */
  public long[] imagePrompt(long[] text, boolean grounding) {
    int head = 3 + numImageTokens + (grounding ? 1 : 0);
    long[] ids = new long[head + text.length];
    ids[0] = bos;
    ids[1] = imageStart;
    for (int i = 0; i < numImageTokens; i++) {
      ids[2 + i] = firstPlaceholder + i;
    }
    ids[2 + numImageTokens] = imageEnd;
    if (grounding) {
      ids[3 + numImageTokens] = this.grounding;
    }
    System.arraycopy(text, 0, ids, head, text.length);
    return ids;
  }
}
