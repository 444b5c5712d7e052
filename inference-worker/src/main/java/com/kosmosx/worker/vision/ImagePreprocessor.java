package com.kosmosx.worker.vision;

import com.kosmosx.worker.model.ModelConfig;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.Base64;
import javax.imageio.ImageIO;

/**
 * Turns the API's normalised image (base64 PNG or JPEG) into the model's input: resized to the
 * model's square size with bicubic interpolation and no crop (as Kosmos-2's processor does, so box
 * coordinates stay relative to the whole original image), scaled to [0,1], normalised with the
 * config's CLIP mean and std, laid out channel-first [3,S,S].
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
    BufferedImage resized = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = resized.createGraphics();
    try {
      g.setRenderingHint(
          RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BICUBIC);
      g.setRenderingHint(RenderingHints.KEY_RENDERING, RenderingHints.VALUE_RENDER_QUALITY);
      // Transparent pixels (PNG, GIF, WebP alpha) land on white.
      g.setColor(java.awt.Color.WHITE);
      g.fillRect(0, 0, size, size);
      g.drawImage(img, 0, 0, size, size, null);
    } finally {
      g.dispose();
    }
    int[] rgb = resized.getRGB(0, 0, size, size, null, 0, size);
    float[] out = new float[3 * size * size];
    int plane = size * size;
    for (int i = 0; i < plane; i++) {
      int p = rgb[i];
      out[i] = (((p >> 16) & 0xff) / 255f - mean[0]) / std[0];
      out[plane + i] = (((p >> 8) & 0xff) / 255f - mean[1]) / std[1];
      out[2 * plane + i] = ((p & 0xff) / 255f - mean[2]) / std[2];
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
