package com.kosmosx.api.jobs;

import com.kosmosx.api.errors.ApiProblem;
import com.kosmosx.contracts.ImageInput;
import com.kosmosx.contracts.image.PilImages;
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
import javax.imageio.ImageIO;
import javax.imageio.ImageReadParam;
import javax.imageio.ImageReader;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.stream.ImageInputStream;

/**
 * Validates an image at submit time and turns it into the model's input image for the job message.
 *
 * <p>The format is sniffed from the bytes (never trusted from a name or a header) and must be JPEG
 * (RGB, greyscale or CMYK), PNG, GIF (first frame), BMP or WebP; the dimensions are read before any
 * pixel is decoded, so a decompression bomb is refused without allocating it; then the image is
 * decoded in full, so a truncated or corrupt file is a 400 now rather than a failed job later.
 *
 * <p>The copy in the job message is what Kosmos-2's processor feeds the model, before rescaling:
 * {@code convert("RGB")} then Pillow's antialiased bicubic resize to the model's square input
 * ({@link PilImages}, identical to Pillow's), as a PNG (at most about 150 KB for 224×224, so every
 * job message stays far under Kafka's 1 MiB default). The worker then only normalises it. Boxes are
 * relative to the whole image, so squashing loses nothing the model would have seen. Width, height,
 * format and SHA-256 describe the original. Only an image too large to decode in the byte budget at
 * full resolution is decoded subsampled (every n-th pixel) first; its pixels then differ slightly
 * from Hugging Face's.
 */
public final class ImageNormalizer {
  /** Largest accepted image, decoded from base64 or as uploaded. */
  public static final int MAX_BYTES = 20 * 1024 * 1024;

  /** Largest accepted pixel count (a 20 MB file can claim 65,535 × 65,535). */
  static final long MAX_PIXELS = 50_000_000L;

  /** The model's input side when none is configured: Kosmos-2's 224×224. */
  public static final int DEFAULT_SIDE = 224;

  /**
   * Bytes of decoded pixels held at once, across requests. The cost of a decode is its pixels times
   * bit depth times channels (a 16-bit RGBA pixel is 8 bytes, so a 49-megapixel PNG of that kind
   * would be 392 MB), so the budget is in bytes, not megapixels. Decoding is subsampled to about
   * twice the stored side ({@link #decodePlan}), which keeps most images far below it; an image
   * whose decode would still not fit the whole budget is refused.
   */
  static final long DECODE_BUDGET_BYTES = 96L * 1024 * 1024;

  private static final int BUDGET_UNIT = 64 * 1024; // permits are 64 KiB

  private static final java.util.concurrent.Semaphore DECODING =
      new java.util.concurrent.Semaphore((int) (DECODE_BUDGET_BYTES / BUDGET_UNIT), true);

  /** Readers known to honour source subsampling while still reading every row of the file. */
  private static final Set<String> SUBSAMPLING_READERS =
      Set.of(
          "com.sun.imageio.plugins.png.PNGImageReader",
          "com.sun.imageio.plugins.jpeg.JPEGImageReader",
          "com.sun.imageio.plugins.gif.GIFImageReader",
          "com.sun.imageio.plugins.bmp.BMPImageReader");

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

  private final int side;

  public ImageNormalizer() {
    this(DEFAULT_SIDE);
  }

  /**
   * @param side the model's square input size (the worker's model config {@code image_size})
   */
  public ImageNormalizer(int side) {
    if (side < 1 || side > 4096) {
      throw new IllegalArgumentException("image side " + side);
    }
    this.side = side;
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
        DecodePlan plan = decodePlan(reader, width, height);
        permits = plan.permits();
        DECODING.acquireUninterruptibly(permits);
        ImageReadParam param = reader.getDefaultReadParam();
        if (plan.step() > 1) {
          param.setSourceSubsampling(plan.step(), plan.step(), 0, 0);
        }
        image = reader.read(0, param);
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
    int[] input;
    try {
      input =
          PilImages.resize(PilImages.rgb(image), image.getWidth(), image.getHeight(), side, side);
    } finally {
      DECODING.release(permits);
    }
    return new ImageInput(
        Base64.getEncoder().encodeToString(png(input, side)), width, height, format, sha256(bytes));
  }

  /** Bytes of decode budget free now (tests check that every path returns its share). */
  static long decodeBudgetAvailable() {
    return (long) DECODING.availablePermits() * BUDGET_UNIT;
  }

  /** How to decode one image: the subsampling step and the budget it takes. */
  record DecodePlan(int step, long bytes, int permits) {}

  /**
   * Plans the decode of a {@code width}×{@code height} image: in full when it fits the whole byte
   * budget (so the resize sees every pixel, as Hugging Face's does), else, with a reader that
   * honours subsampling, every {@code step}-th pixel of every {@code step}-th row for the smallest
   * step that fits. The bytes are the decoded pixels times what one pixel takes: the reader's own
   * image type (bit depth × channels, or 8 for 16-bit RGBA when the reader does not say) plus 4 for
   * the packed RGB copy the resize reads. 400 when even that does not fit the budget.
   */
  static DecodePlan decodePlan(ImageReader reader, int width, int height) throws IOException {
    int step = 1;
    int perPixel = bytesPerPixel(reader);
    if (SUBSAMPLING_READERS.contains(reader.getClass().getName())) {
      while (decodedBytes(width, height, step, perPixel) > DECODE_BUDGET_BYTES) {
        step++;
      }
    }
    long bytes = decodedBytes(width, height, step, perPixel);
    if (bytes > DECODE_BUDGET_BYTES) {
      throw invalid(
          "The image is "
              + width
              + "x"
              + height
              + " pixels and would take "
              + (bytes >> 20)
              + " MB to decode; at most "
              + (DECODE_BUDGET_BYTES >> 20)
              + " MB are allowed. Send it smaller (the model sees 224x224).");
    }
    int permits = (int) Math.max(1, (bytes + BUDGET_UNIT - 1) / BUDGET_UNIT);
    return new DecodePlan(step, bytes, permits);
  }

  private static long decodedBytes(int width, int height, int step, int perPixel) {
    return (long) ((width + step - 1) / step) * ((height + step - 1) / step) * perPixel;
  }

  /**
   * Bytes per decoded pixel: the reader's raw image type's bits over all bands (a 16-bit RGBA PNG
   * is 8), plus 4 for the packed RGB copy the resize reads.
   */
  static int bytesPerPixel(ImageReader reader) throws IOException {
    ImageTypeSpecifier type = reader.getRawImageType(0);
    if (type == null) {
      Iterator<ImageTypeSpecifier> types = reader.getImageTypes(0);
      type = types.hasNext() ? types.next() : null;
    }
    if (type == null) {
      return 8 + 4;
    }
    int bits = 0;
    for (int size : type.getSampleModel().getSampleSize()) {
      bits += size;
    }
    return (bits + 7) / 8 + 4;
  }

  private static String format(Throwable e) {
    String m = e.getMessage();
    return m == null ? e.getClass().getSimpleName() : m.length() > 120 ? m.substring(0, 120) : m;
  }

  private static byte[] png(int[] rgb, int side) {
    BufferedImage img = new BufferedImage(side, side, BufferedImage.TYPE_INT_RGB);
    img.setRGB(0, 0, side, side, rgb, 0, side);
    try {
      ByteArrayOutputStream png = new ByteArrayOutputStream();
      ImageIO.write(img, "png", png);
      return png.toByteArray();
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
