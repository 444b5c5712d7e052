package com.kosmosx.worker.model;

import ai.djl.Device;
import ai.djl.MalformedModelException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValue;
import ai.djl.pytorch.jni.IValueUtils;
import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ModelNotFoundException;
import ai.djl.repository.zoo.ZooModel;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;

/**
 * The Kosmos TorchScript model through DJL's PyTorch engine.
 *
 * <p>A batch shares one KV cache [layers, batch, heads, capacity, head_dim], preallocated to the
 * longest prompt plus the most new tokens any row may produce, and written in place by the model,
 * so a 20,000-token context costs one allocation instead of a copy per token. Prompts are
 * left-padded to a common length; pad columns are masked out of attention through {@code key_mask}
 * and every row keeps its own position ids, so a row's tokens do not depend on what it is batched
 * with. Long prompts are prefilled in chunks to bound the attention scratch memory. A row that
 * finishes is dropped from the cache ({@link Batch#keep}), so the remaining rows stop paying for
 * it.
 */
public final class DjlKosmosModel implements LanguageModel {
  private final ZooModel<NDList, NDList> model;
  private final PtSymbolBlock block;
  private final NDManager manager;
  private final ModelConfig config;

  /** The weights' precision: the KV cache, image embeddings and pixels are created in it. */
  private final DataType weights;

  private final int prefillChunk;
  private final Device device;
  // Time spent inside TorchScript method calls, so a benchmark can tell the Java loop's overhead.
  private final LongAdder nativeNanos = new LongAdder();

  public DjlKosmosModel(ModelDirectory dir, Device device, int prefillChunk) {
    this.config = dir.config();
    this.weights = config.halfPrecision() ? DataType.FLOAT16 : DataType.FLOAT32;
    this.prefillChunk = prefillChunk;
    this.device = device;
    try {
      Criteria<NDList, NDList> criteria =
          Criteria.builder()
              .setTypes(NDList.class, NDList.class)
              .optModelPath(dir.root())
              .optModelName("model")
              .optEngine("PyTorch")
              .optDevice(device)
              .build();
      this.model = criteria.loadModel();
    } catch (IOException | ModelNotFoundException | MalformedModelException e) {
      throw new IllegalStateException("cannot load TorchScript model " + dir.model(), e);
    }
    this.block = (PtSymbolBlock) model.getBlock();
    this.manager = model.getNDManager();
  }

  public ModelConfig config() {
    return config;
  }

  public Device device() {
    return device;
  }

  /** Total nanoseconds spent inside libtorch method calls since start. */
  public long nativeNanos() {
    return nativeNanos.sum();
  }

  @Override
  public int vocabSize() {
    return config.vocabSize();
  }

  @Override
  public int maxContext() {
    return config.maxContext();
  }

  /**
   * Calls each method of the contract once on a minimal input (an image prompt, one decode step)
   * and names the one that is missing or fails, so a bad model directory stops the worker at start
   * instead of failing its first job.
   */
  public void selfTest() {
    int s = config.imageSize();
    int n = config.numImageTokens();
    long[] ids = new long[n + 4];
    Arrays.fill(ids, config.padTokenId());
    ids[0] = config.bosTokenId();
    ids[1] = config.imageTokenId();
    ids[n + 2] = config.imageEndTokenId();
    ids[n + 3] = config.bosTokenId();
    String stage = "encode_image/prefill";
    try (Batch b = start(List.of(new Prompt(ids, 1, new float[3 * s * s], 2)))) {
      stage = "decode_step";
      b.append(new long[] {config.eosTokenId()});
      if (b.logits(0).length != config.vocabSize()) {
        throw new IllegalStateException(
            "decode_step returned "
                + b.logits(0).length
                + " logits; config.json says vocab_size "
                + config.vocabSize());
      }
    } catch (RuntimeException e) {
      throw new IllegalStateException(
          "model.pt failed the start-up check at "
              + stage
              + " (the contract needs encode_image, prefill and decode_step): "
              + e.getMessage(),
          e);
    }
  }

  @Override
  public Batch start(List<Prompt> prompts) {
    return start(prompts, () -> false);
  }

  @Override
  public Batch start(List<Prompt> prompts, java.util.function.BooleanSupplier abort) {
    if (prompts.isEmpty()) {
      throw new IllegalArgumentException("empty batch");
    }
    for (Prompt p : prompts) {
      if (p.ids().length == 0) {
        throw new IllegalArgumentException("empty prompt");
      }
      if (p.maxNewTokens() < 0 || p.capacity() > config.maxContext()) {
        throw new IllegalArgumentException(
            "prompt of "
                + p.ids().length
                + " tokens with "
                + p.maxNewTokens()
                + " new tokens exceeds the model's "
                + config.maxContext()
                + "-token context");
      }
      if (p.pixels() != null) {
        int s = config.imageSize();
        if (p.pixels().length != 3 * s * s) {
          throw new IllegalArgumentException("image pixels must be 3x" + s + "x" + s);
        }
        if (p.imageStart() < 0 || p.imageStart() + config.numImageTokens() > p.ids().length) {
          throw new IllegalArgumentException("the image block lies outside the prompt");
        }
      }
    }
    DjlBatch batch = new DjlBatch(prompts);
    try {
      batch.prefill(prompts, abort);
      return batch;
    } catch (RuntimeException e) {
      batch.close();
      throw e;
    }
  }

  @Override
  public void close() {
    model.close();
  }

  private final class DjlBatch implements Batch {
    private final NDManager batchManager = manager.newSubManager();
    private NDArray kCache;
    private NDArray vCache;
    private NDArray keyMask;
    // Next position id per row (its own count of real tokens) and the shared next cache column.
    private int[] positions;
    private int column;
    private final int capacity;
    private float[][] logits;
    private IValue[] cacheArgs;

    private final int longest;

    DjlBatch(List<Prompt> prompts) {
      int b = prompts.size();
      longest = prompts.stream().mapToInt(p -> p.ids().length).max().orElseThrow();
      int mostNew = prompts.stream().mapToInt(Prompt::maxNewTokens).max().orElseThrow();
      capacity = longest + Math.max(1, mostNew);
      Shape cacheShape =
          new Shape(config.numLayers(), b, config.numHeads(), capacity, config.headDim());
      kCache = batchManager.zeros(cacheShape, weights);
      vCache = batchManager.zeros(cacheShape, weights);
      positions = new int[b];
    }

    void prefill(List<Prompt> prompts, java.util.function.BooleanSupplier abort) {
      int b = prompts.size();
      boolean[] mask = new boolean[b * capacity];
      long[] ids = new long[b * longest];
      long[] pos = new long[b * longest];
      int[] pad = new int[b];
      int firstChunk = Math.min(longest, prefillChunk);
      List<float[]> images = new ArrayList<>();
      for (int r = 0; r < b; r++) {
        long[] p = prompts.get(r).ids();
        pad[r] = longest - p.length;
        positions[r] = p.length;
        Arrays.fill(ids, r * longest, r * longest + pad[r], config.padTokenId());
        System.arraycopy(p, 0, ids, r * longest + pad[r], p.length);
        for (int c = 0; c < longest; c++) {
          pos[r * longest + c] = Math.max(0, c - pad[r]);
        }
        Arrays.fill(mask, r * capacity + pad[r], (r + 1) * capacity, true);
        if (prompts.get(r).pixels() != null) {
          images.add(prompts.get(r).pixels());
          // The image block goes in with the first chunk, whole.
          firstChunk =
              Math.max(firstChunk, pad[r] + prompts.get(r).imageStart() + config.numImageTokens());
        }
      }
      keyMask = batchManager.create(mask, new Shape(b, capacity));
      NDArray imageEmbeds = images.isEmpty() ? null : encodeImages(images);
      for (int start = 0; start < longest; ) {
        if (start > 0 && abort.getAsBoolean()) {
          throw new Aborted();
        }
        int end = start == 0 ? firstChunk : Math.min(longest, start + prefillChunk);
        int t = end - start;
        try (NDManager step = batchManager.newSubManager()) {
          long[] chunkIds = new long[b * t];
          long[] chunkPos = new long[b * t];
          boolean[] imageMask = new boolean[b * t];
          for (int r = 0; r < b; r++) {
            System.arraycopy(ids, r * longest + start, chunkIds, r * t, t);
            System.arraycopy(pos, r * longest + start, chunkPos, r * t, t);
            Prompt p = prompts.get(r);
            if (start == 0 && p.pixels() != null) {
              int from = pad[r] + p.imageStart();
              Arrays.fill(imageMask, r * t + from, r * t + from + config.numImageTokens(), true);
            }
          }
          NDArray embeds =
              start == 0 && imageEmbeds != null
                  ? imageEmbeds
                  : step.zeros(new Shape(1, 0, config.hiddenSize()), weights);
          logits =
              call(
                  "prefill",
                  b,
                  iv(step.create(chunkIds, new Shape(b, t))),
                  iv(step.create(chunkPos, new Shape(b, t))),
                  iv(embeds),
                  iv(step.create(imageMask, new Shape(b, t))),
                  iv(kCache),
                  iv(vCache),
                  iv(keyMask),
                  IValue.from((long) start));
        }
        start = end;
      }
      column = longest;
      if (imageEmbeds != null) {
        imageEmbeds.close();
      }
    }

    private NDArray encodeImages(List<float[]> images) {
      int s = config.imageSize();
      float[] all = new float[images.size() * 3 * s * s];
      for (int i = 0; i < images.size(); i++) {
        System.arraycopy(images.get(i), 0, all, i * 3 * s * s, 3 * s * s);
      }
      NDArray floats = batchManager.create(all, new Shape(images.size(), 3, s, s));
      NDArray pixels = weights == DataType.FLOAT32 ? floats : floats.toType(weights, false);
      if (pixels != floats) {
        floats.close();
      }
      IValue in = IValue.from((PtNDArray) pixels);
      long t0 = System.nanoTime();
      try (IValue out = IValueUtils.runMethod(block, "encode_image", in)) {
        NDArray embeds = out.toTensor((PtNDManager) batchManager);
        embeds.attach(batchManager);
        nativeNanos.add(System.nanoTime() - t0);
        return embeds;
      } finally {
        in.close();
        pixels.close();
      }
    }

    @Override
    public int size() {
      return positions.length;
    }

    @Override
    public float[] logits(int row) {
      return logits[row];
    }

    @Override
    public void append(long[] tokens) {
      int b = size();
      if (tokens.length != b) {
        throw new IllegalArgumentException("one token per row: " + b + ", got " + tokens.length);
      }
      if (column >= capacity) {
        throw new IllegalStateException("KV cache full at " + column + " columns");
      }
      long[] pos = new long[b];
      for (int r = 0; r < b; r++) {
        pos[r] = positions[r];
      }
      // The cache tensors' IValues are made once and reused: the model writes the tensors in
      // place, so only the token and position inputs are new each step.
      if (cacheArgs == null) {
        cacheArgs = new IValue[] {iv(kCache), iv(vCache), iv(keyMask)};
      }
      try (NDManager step = batchManager.newSubManager()) {
        IValue ids = iv(step.create(tokens, new Shape(b, 1)));
        IValue at = iv(step.create(pos, new Shape(b, 1)));
        IValue start = IValue.from((long) column);
        try {
          logits =
              run(step, "decode_step", b, ids, at, cacheArgs[0], cacheArgs[1], cacheArgs[2], start);
        } finally {
          ids.close();
          at.close();
          start.close();
        }
      }
      for (int r = 0; r < b; r++) {
        positions[r]++;
      }
      column++;
    }

    @Override
    public void keep(int[] rows) {
      if (rows.length == size()) {
        return;
      }
      if (rows.length == 0) {
        throw new IllegalArgumentException("keep at least one row; close the batch instead");
      }
      closeCacheArgs();
      NDArray k = select(kCache, rows, 1);
      NDArray v = select(vCache, rows, 1);
      NDArray m = select(keyMask, rows, 0);
      kCache.close();
      vCache.close();
      keyMask.close();
      kCache = k;
      vCache = v;
      keyMask = m;
      int[] pos = new int[rows.length];
      float[][] l = new float[rows.length][];
      for (int i = 0; i < rows.length; i++) {
        pos[i] = positions[rows[i]];
        l[i] = logits[rows[i]];
      }
      positions = pos;
      logits = l;
    }

    /** A copy of {@code a} holding only the given indices along {@code axis} (0 or 1). */
    private NDArray select(NDArray a, int[] rows, int axis) {
      NDList parts = new NDList();
      for (int i = 0; i < rows.length; ) {
        int j = i + 1;
        while (j < rows.length && rows[j] == rows[j - 1] + 1) {
          j++;
        }
        String range = rows[i] + ":" + (rows[j - 1] + 1);
        parts.add(a.get(new NDIndex(axis == 0 ? range : ":, " + range)));
        i = j;
      }
      NDArray out = parts.size() == 1 ? parts.get(0).duplicate() : NDArrays.concat(parts, axis);
      out.attach(batchManager);
      parts.close();
      return out;
    }

    /** Runs a method that returns logits [B,V] and splits them per row; closes the arguments. */
    private float[][] call(String method, int rows, IValue... args) {
      try (NDManager out = batchManager.newSubManager()) {
        return run(out, method, rows, args);
      } finally {
        for (IValue a : args) {
          a.close();
        }
      }
    }

    /**
     * Runs a method that returns logits [B,V] (attached to {@code out}) and splits them per row.
     */
    private float[][] run(NDManager out, String method, int rows, IValue... args) {
      long t0 = System.nanoTime();
      float[] flat;
      try (IValue result = IValueUtils.runMethod(block, method, args)) {
        flat = result.toTensor((PtNDManager) out).toFloatArray();
      }
      nativeNanos.add(System.nanoTime() - t0);
      int v = flat.length / rows;
      if (rows == 1) {
        return new float[][] {flat};
      }
      float[][] split = new float[rows][];
      for (int r = 0; r < rows; r++) {
        split[r] = Arrays.copyOfRange(flat, r * v, (r + 1) * v);
      }
      return split;
    }

    private void closeCacheArgs() {
      if (cacheArgs != null) {
        for (IValue a : cacheArgs) {
          a.close();
        }
        cacheArgs = null;
      }
    }

    private IValue iv(NDArray a) {
      return IValue.from((PtNDArray) a);
    }

    @Override
    public void close() {
      closeCacheArgs();
      batchManager.close();
    }
  }
}
