package com.kosmosx.worker.model;

import ai.djl.Device;
import ai.djl.MalformedModelException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
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
import java.util.Arrays;

/**
 * The Kosmos TorchScript model through DJL's PyTorch engine. Each sequence gets a KV cache
 * preallocated to the length it needs (prompt + max new tokens) that the model writes in place, and
 * long prompts are prefilled in chunks, so a 20,000-token context costs linear time and one
 * allocation instead of a copy per token.
 */
public final class DjlKosmosModel implements LanguageModel {
  private final ZooModel<NDList, NDList> model;
  private final PtSymbolBlock block;
  private final NDManager manager;
  private final ModelConfig config;
  private final int prefillChunk;
  private final Device device;
  // Time spent inside TorchScript method calls, so a benchmark can tell the Java loop's overhead.
  private final java.util.concurrent.atomic.LongAdder nativeNanos =
      new java.util.concurrent.atomic.LongAdder();

  public DjlKosmosModel(ModelDirectory dir, Device device, int prefillChunk) {
    this.config = dir.config();
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

  @Override
  public Sequence start(long[] promptIds, int capacity) {
    if (promptIds.length == 0) {
      throw new IllegalArgumentException("empty prompt");
    }
    if (capacity < promptIds.length || capacity > config.maxContext()) {
      throw new IllegalArgumentException(
          "capacity "
              + capacity
              + " outside ["
              + promptIds.length
              + ", "
              + config.maxContext()
              + "]");
    }
    return new DjlSequence(promptIds, capacity, null);
  }

  /**
   * Starts a sequence whose prompt holds an image block: {@code pixels} [1,3,S,S] (normalised)
   * replace the positions from {@code imageStart} for {@code num_image_tokens} tokens.
   */
  public Sequence startWithImage(long[] promptIds, int capacity, float[] pixels, int imageStart) {
    return new DjlSequence(promptIds, capacity, new ImageInput(pixels, imageStart));
  }

  private record ImageInput(float[] pixels, int start) {}

  @Override
  public void close() {
    model.close();
  }

  private final class DjlSequence implements Sequence {
    private final NDManager seqManager = manager.newSubManager();
    private final NDArray kCache;
    private final NDArray vCache;
    private final NDArray keyMask;
    private int length;
    private float[] logits;

    DjlSequence(long[] prompt, int capacity, ImageInput image) {
      Shape cacheShape =
          new Shape(config.numLayers(), 1, config.numHeads(), capacity, config.headDim());
      kCache = seqManager.zeros(cacheShape, DataType.FLOAT32);
      vCache = seqManager.zeros(cacheShape, DataType.FLOAT32);
      keyMask = seqManager.ones(new Shape(1, capacity), DataType.BOOLEAN);
      NDArray imageEmbeds = imageEmbeds(image);
      for (int start = 0; start < prompt.length; start += prefillChunk) {
        int end = Math.min(prompt.length, start + prefillChunk);
        try (NDManager step = seqManager.newSubManager()) {
          long[] ids = Arrays.copyOfRange(prompt, start, end);
          boolean[] imageMask = new boolean[ids.length];
          NDArray embeds = empty(step);
          if (image != null && start == 0) {
            int n = config.numImageTokens();
            if (image.start() + n > end) {
              throw new IllegalArgumentException("the image block must fit in the first chunk");
            }
            Arrays.fill(imageMask, image.start(), image.start() + n, true);
            embeds = imageEmbeds;
          }
          logits =
              call(
                  step,
                  "prefill",
                  step.create(ids, new Shape(1, ids.length)),
                  step.arange(start, end, 1, DataType.INT64).reshape(1, ids.length),
                  embeds,
                  step.create(imageMask, new Shape(1, ids.length)),
                  start);
        }
      }
      length = prompt.length;
    }

    private NDArray imageEmbeds(ImageInput image) {
      if (image == null) {
        return null;
      }
      int s = config.imageSize();
      NDArray pixels = seqManager.create(image.pixels(), new Shape(1, 3, s, s));
      IValue in = IValue.from((PtNDArray) pixels);
      try (IValue out = IValueUtils.runMethod(block, "encode_image", in)) {
        NDArray embeds = out.toTensor((PtNDManager) seqManager);
        embeds.attach(seqManager);
        return embeds;
      } finally {
        in.close();
      }
    }

    private NDArray empty(NDManager m) {
      return m.zeros(new Shape(1, 0, config.hiddenSize()), DataType.FLOAT32);
    }

    @Override
    public float[] logits() {
      return logits;
    }

    @Override
    public void append(long token) {
      if (length >= kCache.getShape().get(3)) {
        throw new IllegalStateException("KV cache full at " + length + " tokens");
      }
      try (NDManager step = seqManager.newSubManager()) {
        logits =
            call(
                step,
                "decode_step",
                step.create(new long[] {token}, new Shape(1, 1)),
                step.create(new long[] {length}, new Shape(1, 1)),
                null,
                null,
                length);
      }
      length++;
    }

    /** Runs prefill (with image inputs) or decode_step and returns the last logits. */
    private float[] call(
        NDManager step,
        String method,
        NDArray ids,
        NDArray positions,
        NDArray embeds,
        NDArray imageMask,
        long start) {
      IValue[] args =
          embeds == null
              ? new IValue[] {
                iv(ids), iv(positions), iv(kCache), iv(vCache), iv(keyMask), IValue.from(start)
              }
              : new IValue[] {
                iv(ids),
                iv(positions),
                iv(embeds),
                iv(imageMask),
                iv(kCache),
                iv(vCache),
                iv(keyMask),
                IValue.from(start)
              };
      long t0 = System.nanoTime();
      try (IValue out = IValueUtils.runMethod(block, method, args)) {
        NDArray result = out.toTensor((PtNDManager) step);
        float[] logits = result.toFloatArray();
        nativeNanos.add(System.nanoTime() - t0);
        return logits;
      } finally {
        for (IValue a : args) {
          a.close();
        }
      }
    }

    private IValue iv(NDArray a) {
      return IValue.from((PtNDArray) a);
    }

    @Override
    public void close() {
      seqManager.close();
    }
  }
}
