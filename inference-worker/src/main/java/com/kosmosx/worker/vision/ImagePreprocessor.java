package com.kosmosx.worker.vision;

import com.kosmosx.contracts.image.PilImages;
import com.kosmosx.worker.model.ModelConfig;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.Base64;
import javax.imageio.ImageIO;

/**
 * Turns the job's image (base64 PNG or JPEG; the API has already made it the model's square input)
 * into the model's input exactly as Kosmos-2's processor does: {@code convert("RGB")}, Pillow's
 * antialiased bicubic resize to the model's square size with no crop (a no-op when the API's copy
 * already has that size; box coordinates stay relative to the whole original image), scaled to
 * [0,1], normalised with the config's CLIP mean and std, laid out channel-first [3,S,S].
 */
public final class ImagePreprocessor {
  private final int size;
  private final float[] mean;
  private final float[] std;

  public ImagePreprocessor(ModelConfig config) {
    this.size = config.imageSize();
    this.mean = floats(config.imageMean());
    this.std = floats(config.imageStd());
  }

  /** Decodes base64 (optionally a {@code data:} URL) and preprocesses it. */
  public float[] fromBase64(String data) {
    String b64 = data.startsWith("data:") ? data.substring(data.indexOf(',') + 1) : data;
    byte[] bytes;
    try {
      bytes = Base64.getMimeDecoder().decode(b64);
    } catch (IllegalArgumentException e) {
      throw new InvalidImageException("the image is not valid base64");
    }
    BufferedImage img;
    try {
      img = ImageIO.read(new ByteArrayInputStream(bytes));
    } catch (IOException | RuntimeException e) {
      throw new InvalidImageException("the image cannot be decoded: " + e.getMessage());
    }
    if (img == null) {
      throw new InvalidImageException("the image format is not readable");
    }
    return pixels(img);
  }

  public float[] pixels(BufferedImage img) {
    int w = img.getWidth();
    int h = img.getHeight();
    return normalise(PilImages.resize(PilImages.rgb(img), w, h, size, size));
  }

  /**
   * Hugging Face's rescale and normalise, in its arithmetic: {@code value × (1/255)} in double,
   * rounded to float, then {@code (x - mean) / std} in float, so the values are the processor's to
   * the last bit.
   */
  float[] normalise(int[] rgb) {
    float[] out = new float[3 * size * size];
    int plane = size * size;
    for (int i = 0; i < plane; i++) {
      int p = rgb[i];
      out[i] = ((float) (((p >> 16) & 0xff) * (1.0 / 255)) - mean[0]) / std[0];
      out[plane + i] = ((float) (((p >> 8) & 0xff) * (1.0 / 255)) - mean[1]) / std[1];
      out[2 * plane + i] = ((float) ((p & 0xff) * (1.0 / 255)) - mean[2]) / std[2];
    }
    return out;
  }

  private static float[] floats(double[] d) {
    float[] f = new float[d.length];
    for (int i = 0; i < d.length; i++) {
      f[i] = (float) d[i];
    }
    return f;
  }

  /** The job's image could not be turned into model input. */
  public static final class InvalidImageException extends RuntimeException {
    public InvalidImageException(String message) {
      super(message);
    }
  }
}
