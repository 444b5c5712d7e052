package com.kosmosx.worker.model;

/** Text to token ids and back, as the model's own tokenizer does it. */
public interface Tokenizer extends AutoCloseable {

  /** Ids of the text, without special tokens added (the caller adds {@code <s>}). */
  long[] encode(String text);

  /** Text of the ids; special tokens other than tags are dropped. */
  String decode(long[] ids);

  @Override
  void close();
}
