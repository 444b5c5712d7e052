package com.kosmosx.worker.core;

import com.kosmosx.worker.model.LanguageModel;
import com.kosmosx.worker.model.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * The Java decode loop over a batch: prefill all prompts together, then each step pick one token
 * per sequence and feed them all in one model call, until each sequence hits EOS, a stop sequence,
 * {@code max_tokens} or its interruption (cancel, time limit).
 *
 * <p>A sequence that finishes is reported at once and leaves the batch, so its job does not wait
 * for the longest one and the others stop paying for it. Stop sequences are checked on the decoded
 * tail only, so each step costs O(stop length), not O(output length). When the model fails on a
 * batch, the unfinished sequences are retried one by one, so a bad input fails only its own job.
 */
public final class Generator {
  private final LanguageModel model;
  private final Tokenizer tokenizer;
  private final long bosId;
  private final long eosId;

  public Generator(LanguageModel model, Tokenizer tokenizer, long bosId, long eosId) {
    this.model = model;
    this.tokenizer = tokenizer;
    this.bosId = bosId;
    this.eosId = eosId;
  }

  public long bosId() {
    return bosId;
  }

  public Tokenizer tokenizer() {
    return tokenizer;
  }

  /** Prompt ids as the model sees them: {@code <s>} followed by the tokenizer's ids. */
  public long[] promptIds(String prompt) {
    long[] ids = tokenizer.encode(prompt);
    long[] withBos = new long[ids.length + 1];
    withBos[0] = bosId;
    System.arraycopy(ids, 0, withBos, 1, ids.length);
    return withBos;
  }

  /**
   * One sequence to generate.
   *
   * @param prompt what the model prefills (with its image, if any)
   * @param inputTokens the prompt's billable token count
   * @param sampler a fresh sampler per call: a retry after a batch failure starts over from it
   * @param stopNow polled every step; true interrupts this sequence
   * @param stream report the text as it is generated ({@link Listener#delta})
   * @param ignoreEos the end-of-sequence token does not end the sequence (it decodes to nothing)
   */
  public record Request(
      LanguageModel.Prompt prompt,
      int inputTokens,
      Supplier<Sampler> sampler,
      List<String> stop,
      BooleanSupplier stopNow,
      boolean stream,
      boolean ignoreEos) {
    public Request(
        LanguageModel.Prompt prompt,
        int inputTokens,
        Supplier<Sampler> sampler,
        List<String> stop,
        BooleanSupplier stopNow,
        boolean stream) {
      this(prompt, inputTokens, sampler, stop, stopNow, stream, false);
    }

    public Request(
        LanguageModel.Prompt prompt,
        int inputTokens,
        Supplier<Sampler> sampler,
        List<String> stop,
        BooleanSupplier stopNow) {
      this(prompt, inputTokens, sampler, stop, stopNow, false, false);
    }

    public int maxTokens() {
      return prompt.maxNewTokens();
    }
  }

  /** Receives each sequence's end as soon as it happens, in any order. */
  public interface Listener {
    void finished(int request, Generation generation);

    /** {@link GenerationInterrupted} for an interruption; any other exception is a model error. */
    void failed(int request, RuntimeException error);

    /**
     * Every sequence that ended in the step just taken has been reported: a listener may act on
     * them together (the worker commits them in one transaction). Also called before returning.
     */
    default void stepEnded() {}

    /**
     * New text of a streaming sequence that has not ended: {@code text} starts at {@code offset} of
     * its output text. Only whole characters and whole pieces are reported, and never text that a
     * stop sequence may still cut; the rest comes with {@link #finished}. Called on the decode
     * thread: it must not block.
     *
     * @param engineFirstTokenMs on the sequence's first delta: prefill to first token; else null
     */
    default void delta(int request, int offset, String text, Double engineFirstTokenMs) {}

    /** The sequence's first token was picked (for its metrics). On the decode thread. */
    default void firstToken(int request) {}
  }

  /** Generates one sequence (a batch of one). */
  public Generation generate(
      long[] promptIds,
      int maxTokens,
      Sampler sampler,
      List<String> stop,
      BooleanSupplier stopNow) {
    Generation[] result = new Generation[1];
    RuntimeException[] error = new RuntimeException[1];
    generate(
        List.of(
            new Request(
                LanguageModel.Prompt.text(promptIds, maxTokens),
                promptIds.length - 1,
                () -> sampler,
                stop,
                stopNow)),
        new Listener() {
          @Override
          public void finished(int request, Generation generation) {
            result[0] = generation;
          }

          @Override
          public void failed(int request, RuntimeException e) {
            error[0] = e;
          }
        });
    if (error[0] != null) {
      throw error[0];
    }
    return result[0];
  }

  /** Generates all requests as one batch, reporting each to {@code listener} as it ends. */
  public void generate(List<Request> requests, Listener listener) {
    List<Integer> all = new ArrayList<>();
    for (int i = 0; i < requests.size(); i++) {
      all.add(i);
    }
    try {
      run(requests, all, listener);
    } finally {
      listener.stepEnded();
    }
  }

  private void run(List<Request> requests, List<Integer> members, Listener listener) {
    int b = members.size();
    State[] states = new State[b];
    List<LanguageModel.Prompt> prompts = new ArrayList<>(b);
    for (int i = 0; i < b; i++) {
      Request r = requests.get(members.get(i));
      states[i] = new State(members.get(i), r);
      prompts.add(r.prompt());
    }
    List<State> active = new ArrayList<>(Arrays.asList(states));
    long startedNanos = System.nanoTime();
    for (State s : states) {
      s.startedNanos = startedNanos;
    }
    LanguageModel.Batch batch;
    try {
      // A long prefill is abandoned once no sequence in it still wants its result.
      List<State> starting = List.copyOf(active);
      batch =
          model.start(
              prompts, () -> starting.stream().allMatch(s -> s.request.stopNow().getAsBoolean()));
    } catch (LanguageModel.Aborted e) {
      for (State s : active) {
        listener.failed(
            s.index,
            new GenerationInterrupted("stopped during the prompt", s.request.inputTokens(), 0));
      }
      return;
    } catch (RuntimeException e) {
      retryAlone(requests, active, listener, e);
      return;
    }
    try (batch) {
      while (true) {
        List<State> next = new ArrayList<>(active.size());
        int[] keep = new int[active.size()];
        int kept = 0;
        for (int row = 0; row < active.size(); row++) {
          State s = active.get(row);
          if (s.request.stopNow().getAsBoolean()) {
            listener.failed(
                s.index,
                new GenerationInterrupted(
                    "generation stopped after " + s.n + " tokens", s.request.inputTokens(), s.n));
            continue;
          }
          String finish = s.step(batch.logits(row));
          if (s.n == 1 && !s.firstReported) {
            s.firstReported = true;
            listener.firstToken(s.index);
          }
          if (finish != null) {
            listener.finished(s.index, s.result(finish));
            continue;
          }
          if (s.request.stream()) {
            s.stream(listener);
          }
          next.add(s);
          keep[kept++] = row;
        }
        if (next.isEmpty()) {
          return;
        }
        if (next.size() < active.size()) {
          listener.stepEnded();
        }
        long[] tokens = new long[next.size()];
        for (int i = 0; i < tokens.length; i++) {
          tokens[i] = next.get(i).last();
        }
        boolean shrank = next.size() < active.size();
        active = next;
        try {
          if (shrank) {
            batch.keep(Arrays.copyOf(keep, kept));
          }
          batch.append(tokens);
        } catch (RuntimeException e) {
          retryAlone(requests, active, listener, e);
          return;
        }
      }
    }
  }

  /**
   * The model failed on a batch: rerun each unfinished sequence alone so only its own job fails.
   */
  private void retryAlone(
      List<Request> requests, List<State> unfinished, Listener listener, RuntimeException error) {
    if (unfinished.size() == 1) {
      listener.failed(unfinished.get(0).index, error);
      return;
    }
    for (State s : unfinished) {
      run(requests, List.of(s.index), listener);
      listener.stepEnded(); // each rerun's end is committed as it ends, not with the last one's
    }
  }

  /** Output so far of one sequence. */
  private final class State {
    final int index;
    final Request request;
    final Sampler sampler;
    final long[] out;
    final int tail;
    final int holdBack;
    int n;
    // Streaming (vLLM's incremental detokenisation): tokens [prefix, read) are already in
    // `streamed`'s text; `sent` chars of it have been reported.
    long startedNanos;
    long firstTokenNanos;
    boolean firstReported;
    int prefix;
    int read;
    int sent;
    final StringBuilder streamed = new StringBuilder();

    State(int index, Request request) {
      this.index = index;
      this.request = request;
      this.sampler = request.sampler().get();
      this.out = new long[request.maxTokens()];
      List<String> stop = request.stop();
      int longestStop = stop == null ? 0 : stop.stream().mapToInt(String::length).max().orElse(0);
      this.tail = longestStop == 0 ? 0 : longestStop + 8;
      this.holdBack = Math.max(0, longestStop - 1);
    }

    long last() {
      return out[n - 1];
    }

    /** Picks the next token; returns the finish reason when the sequence ends, else null. */
    String step(float[] logits) {
      if (n >= out.length) {
        return "length";
      }
      int token = sampler.pick(logits);
      if (token == eosId && !request.ignoreEos()) {
        return "stop";
      }
      out[n++] = token;
      if (n == 1) {
        firstTokenNanos = System.nanoTime();
      }
      if (tail > 0) {
        String recent = textOf(Math.max(0, n - tail), n);
        if (request.stop().stream().anyMatch(recent::contains)) {
          return "stop";
        }
      }
      return n == out.length ? "length" : null;
    }

    /**
     * The text of {@code out[from, to)} as it reads after what precedes it. A SentencePiece
     * (Metaspace) decoder drops the word-boundary space of the first piece it is given, so decoding
     * a continuation alone loses its leading space ("Once upon a time" + "▁there" must read "
     * there", as OpenAI-style completions do), and a stop sequence starting with a space would be
     * missed at the start of the window. So the piece before the range (the prompt's last token for
     * the first one) is decoded with it and its own text removed: the incremental detokenisation
     * vLLM and TGI use.
     */
    String textOf(int from, int to) {
      long[] promptIds = request.prompt().ids();
      long context =
          from > 0 ? out[from - 1] : promptIds.length > 0 ? promptIds[promptIds.length - 1] : -1;
      long[] range = Arrays.copyOfRange(out, from, to);
      if (request.ignoreEos()) {
        // Generated past the end: the end-of-sequence tokens read as nothing (vLLM skips them).
        range = Arrays.stream(range).filter(t -> t != eosId).toArray();
        if (context == eosId) {
          context = -1;
        }
      }
      if (context < 0) {
        return tokenizer.decode(range);
      }
      long[] with = new long[range.length + 1];
      with[0] = context;
      System.arraycopy(range, 0, with, 1, range.length);
      String head = tokenizer.decode(new long[] {context});
      String full = tokenizer.decode(with);
      return full.startsWith(head) ? full.substring(head.length()) : tokenizer.decode(range);
    }

    /**
     * Reports the text that became final this step. Decodes only the tokens since the last whole
     * piece ({@link #textOf} gives each range its leading context), waits while the text ends in
     * U+FFFD (a multi-byte character split across byte-fallback tokens), and holds back the last
     * {@code longest stop - 1} chars, which a stop sequence may still remove.
     */
    void stream(Listener listener) {
      String before = textOf(prefix, read);
      String now = textOf(prefix, n);
      if (now.length() > before.length() && now.startsWith(before) && !now.endsWith("\uFFFD")) {
        streamed.append(now, before.length(), now.length());
        prefix = read;
        read = n;
      }
      int safe = streamed.length() - holdBack;
      if (safe > 0 && Character.isHighSurrogate(streamed.charAt(safe - 1))) {
        safe--;
      }
      if (safe > sent) {
        Double first = sent == 0 ? (firstTokenNanos - startedNanos) / 1_000_000.0 : null;
        listener.delta(index, sent, streamed.substring(sent, safe), first);
        sent = safe;
      }
    }

    Generation result(String finish) {
      long[] ids = Arrays.copyOf(out, n);
      String text = textOf(0, n);
      if (request.stop() != null) {
        int cut = text.length();
        for (String s : request.stop()) {
          int i = text.indexOf(s);
          if (i >= 0) {
            cut = Math.min(cut, i);
          }
        }
        text = text.substring(0, cut);
      }
      return new Generation(text, ids, request.inputTokens(), finish);
    }
  }

  /**
   * The job was canceled or ran out of time while generating, with the work done until then: its
   * prompt and the tokens generated so far (what a canceled job is billed for).
   */
  public static final class GenerationInterrupted extends RuntimeException {
    private final int inputTokens;
    private final int generatedTokens;

    public GenerationInterrupted(String message, int inputTokens, int generatedTokens) {
      super(message);
      this.inputTokens = inputTokens;
      this.generatedTokens = generatedTokens;
    }

    public int inputTokens() {
      return inputTokens;
    }

    public int generatedTokens() {
      return generatedTokens;
    }
  }
}
