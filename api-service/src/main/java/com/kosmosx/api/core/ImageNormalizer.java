package com.kosmosx.api.core;

import com.kosmosx.api.errors.ApiProblem;
import com.kosmosx.contracts.ImageInput;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageOutputStream;

/**
 * Validates an image at submit time and normalises it for the job message.
 *
 * <p>The format is sniffed from the bytes (never trusted from a name or a header) and must be JPEG,
 * PNG, GIF (first frame), BMP or WebP; the dimensions are read before any pixel is decoded, so a
 * decompression bomb is refused without allocating it; then the image is decoded in full, so a
 * truncated or corrupt file is a 400 now rather than a failed job later. The normalised copy keeps
 * the aspect ratio with its longest side at most {@link #MAX_SIDE} pixels (the model sees 224×224;
 * grounding boxes are relative, so nothing is lost) and is PNG, or JPEG when the PNG would be
 * large, which keeps every job message well under Kafka's 1 MiB default. Width, height, format and
 * SHA-256 describe the original.
 */
public final class ImageNormalizer {
  /** Largest accepted image, decoded from base64 or as uploaded. */
  public static final int MAX_BYTES = 20 * 1024 * 1024;

  /** Largest accepted pixel count (a 20 MB file can claim 65,535 × 65,535). */
  static final long MAX_PIXELS = 50_000_000L;

  static final int MAX_SIDE = 512;

  /**
   * Megapixels being decoded at once, across requests: a full decode of the largest accepted image
   * (50 MP) takes about 200 MB of heap, so concurrent uploads wait their turn instead of running
   * the API (384 MB heap in the local stack) out of memory. Small images pass several at a time.
   */
  static final int DECODE_BUDGET_MEGAPIXELS = 50;

  private static final java.util.concurrent.Semaphore DECODING =
      new java.util.concurrent.Semaphore(DECODE_BUDGET_MEGAPIXELS, true);
  static final int MAX_PNG_BYTES = 512 * 1024;
  private static final Set<String> FORMATS = Set.of("jpeg", "png", "gif", "bmp", "webp");

  static {
    ImageIO.setUseCache(false);
    ImageIO.scanForPlugins();
  }

  /** Decodes a base64 string or a {@code data:image/…;base64,} URL to bytes. */
  public static byte[] fromBase64(String value) {
    String b64 = value.strip();
    if (b64.startsWith("data:")) {
      int comma = b64.indexOf(',');
      if (comma < 0 || !b64.substring(0, comma).endsWith(";base64")) {
        throw invalid("A data: URL image must be base64-encoded (data:image/png;base64,...).");
      }
      b64 = b64.substring(comma + 1);
    }
    // Base64 inflates by 4/3: refuse an oversized image before decoding it.
    if ((long) b64.length() * 3 / 4 > MAX_BYTES + 3L) {
      throw tooLarge();
    }
    try {
      return Base64.getMimeDecoder().decode(b64);
    } catch (IllegalArgumentException e) {
      throw invalid("Field 'input.image' is not valid base64.");
    }
  }

  public ImageInput normalize(byte[] bytes) {
    if (bytes.length > MAX_BYTES) {
      throw tooLarge();
    }
    if (bytes.length == 0) {
      throw invalid("The image is empty.");
    }
    String format;
    BufferedImage image;
    int width;
    int height;
    int permits = 0;
    try (ImageInputStream in = ImageIO.createImageInputStream(new ByteArrayInputStream(bytes))) {
      Iterator<ImageReader> readers = ImageIO.getImageReaders(in);
      if (!readers.hasNext()) {
        throw invalid("The image is not JPEG, PNG, GIF, BMP or WebP.");
      }
      ImageReader reader = readers.next();
      try {
        format = reader.getFormatName().toLowerCase(Locale.ROOT);
        if (format.equals("jpg")) {
          format = "jpeg";
        }
        if (!FORMATS.contains(format)) {
          throw invalid(
              "Image format " + format + " is not accepted; use JPEG, PNG, GIF, BMP or WebP.");
        }
        reader.setInput(in, true, true);
        width = reader.getWidth(0);
        height = reader.getHeight(0);
        if (width < 1 || height < 1 || (long) width * height > MAX_PIXELS) {
          throw invalid(
              "The image is "
                  + width
                  + "x"
                  + height
                  + " pixels; at most "
                  + MAX_PIXELS
                  + " pixels are accepted.");
        }
        permits = megapixels(width, height);
        DECODING.acquireUninterruptibly(permits);
        image = reader.read(0);
      } finally {
        reader.dispose();
      }
    } catch (ApiProblem e) {
      DECODING.release(permits);
      throw e;
    } catch (IOException | RuntimeException | OutOfMemoryError e) {
      DECODING.release(permits);
      throw invalid("The image cannot be decoded (" + format(e) + ").");
    }
    BufferedImage small;
    try {
      small = downscale(image);
    } finally {
      DECODING.release(permits);
    }
    return new ImageInput(
        Base64.getEncoder().encodeToString(encode(small)), width, height, format, sha256(bytes));
  }

  /** Megapixels of decode budget free now (tests check that every path returns its share). */
  static int decodeBudgetAvailable() {
    return DECODING.availablePermits();
  }

  /** Decode-budget permits for an image: its megapixels, rounded up, within the budget. */
  static int megapixels(int width, int height) {
    long mp = ((long) width * height + 999_999) / 1_000_000;
    return (int) Math.max(1, Math.min(DECODE_BUDGET_MEGAPIXELS, mp));
  }

  private static String format(Throwable e) {
    String m = e.getMessage();
    return m == null ? e.getClass().getSimpleName() : m.length() > 120 ? m.substring(0, 120) : m;
  }

  private static BufferedImage downscale(BufferedImage src) {
    int w = src.getWidth();
    int h = src.getHeight();
    double scale = Math.min(1.0, (double) MAX_SIDE / Math.max(w, h));
    int tw = Math.max(1, (int) Math.round(w * scale));
    int th = Math.max(1, (int) Math.round(h * scale));
    BufferedImage out = new BufferedImage(tw, th, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = out.createGraphics();
    try {
      g.setRenderingHint(
          RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BICUBIC);
      g.setRenderingHint(RenderingHints.KEY_RENDERING, RenderingHints.VALUE_RENDER_QUALITY);
      g.setColor(java.awt.Color.WHITE); // transparent pixels on white
      g.fillRect(0, 0, tw, th);
      g.drawImage(src, 0, 0, tw, th, null);
    } finally {
      g.dispose();
    }
    return out;
  }

  private static byte[] encode(BufferedImage img) {
    try {
      ByteArrayOutputStream png = new ByteArrayOutputStream();
      ImageIO.write(img, "png", png);
      if (png.size() <= MAX_PNG_BYTES) {
        return png.toByteArray();
      }
      ImageWriter writer = ImageIO.getImageWritersByFormatName("jpeg").next();
      ByteArrayOutputStream jpeg = new ByteArrayOutputStream();
      try (MemoryCacheImageOutputStream out = new MemoryCacheImageOutputStream(jpeg)) {
        writer.setOutput(out);
        ImageWriteParam param = writer.getDefaultWriteParam();
        param.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
        param.setCompressionQuality(0.9f);
        writer.write(null, new IIOImage(img, null, null), param);
      } finally {
        writer.dispose();
      }
      return jpeg.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static String sha256(byte[] bytes) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  static ApiProblem invalid(String detail) {
    return new ApiProblem(
        400, "invalid_image", "Invalid image", detail, Map.of("field", "input.image"));
  }

  static ApiProblem tooLarge() {
    return new ApiProblem(
        413,
        "payload_too_large",
        "Payload too large",
        "The image exceeds " + MAX_BYTES + " bytes.",
        Map.of("max_bytes", MAX_BYTES));
  }
}
