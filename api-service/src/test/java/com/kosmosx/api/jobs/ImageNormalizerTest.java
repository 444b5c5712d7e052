package com.kosmosx.api.jobs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.kosmosx.api.errors.ApiProblem;
import com.kosmosx.contracts.ImageInput;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Random;
import java.util.zip.CRC32;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

public class ImageNormalizerTest {
  private final ImageNormalizer normalizer = new ImageNormalizer();

  static BufferedImage picture(int w, int h) {
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        img.setRGB(x, y, (x * 255 / w) << 16 | (y * 255 / h) << 8 | 0x40);
      }
    }
    return img;
  }

  static byte[] encode(BufferedImage img, String format) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    assertThat(ImageIO.write(img, format, out)).as(format).isTrue();
    return out.toByteArray();
  }

  static byte[] webp() throws Exception {
    try (InputStream in =
        ImageNormalizerTest.class.getResourceAsStream("/images/gradient-64x48.webp")) {
      return in.readAllBytes();
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"png", "jpeg", "gif", "bmp"})
  void eachAcceptedFormatIsDescribedAndNormalised(String format) throws Exception {
    byte[] bytes = encode(picture(320, 200), format);
    ImageInput in = normalizer.normalize(bytes);
    assertThat(in.width()).isEqualTo(320);
    assertThat(in.height()).isEqualTo(200);
    assertThat(in.format()).isEqualTo(format);
    assertThat(in.sha256())
        .isEqualTo(HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes)));
    BufferedImage normalised =
        ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode(in.data())));
    // The model's square input, as Kosmos-2's processor makes it (PixelFidelityTest: exactly).
    assertThat(normalised.getWidth()).isEqualTo(ImageNormalizer.DEFAULT_SIDE);
    assertThat(normalised.getHeight()).isEqualTo(ImageNormalizer.DEFAULT_SIDE);
  }

  @Test
  void webpIsAccepted() throws Exception {
    ImageInput in = normalizer.normalize(webp());
    assertThat(in.format()).isEqualTo("webp");
    assertThat(in.width()).isEqualTo(64);
    assertThat(in.height()).isEqualTo(48);
  }

  @Test
  void aLargeNoisyPhotoShrinksToFitAJobMessage() throws Exception {
    BufferedImage noise = new BufferedImage(2400, 1800, BufferedImage.TYPE_INT_RGB);
    Random r = new Random(7);
    for (int y = 0; y < 1800; y++) {
      for (int x = 0; x < 2400; x++) {
        noise.setRGB(x, y, r.nextInt(0x1000000));
      }
    }
    byte[] png = encode(noise, "png");
    assertThat(png.length).isGreaterThan(20_000_000 / 2);
    ImageInput in = normalizer.normalize(png);
    assertThat(in.width()).isEqualTo(2400);
    assertThat(in.data().length()).isLessThan(700_000); // base64, leaving room in a 1 MiB message
    BufferedImage small =
        ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode(in.data())));
    assertThat(small.getWidth()).isEqualTo(ImageNormalizer.DEFAULT_SIDE);
    assertThat(small.getHeight()).isEqualTo(ImageNormalizer.DEFAULT_SIDE);
  }

  @Test
  void base64AndDataUrlsDecode() throws Exception {
    byte[] png = encode(picture(8, 8), "png");
    String b64 = Base64.getEncoder().encodeToString(png);
    assertThat(ImageNormalizer.fromBase64(b64)).isEqualTo(png);
    assertThat(ImageNormalizer.fromBase64("data:image/png;base64," + b64)).isEqualTo(png);
    assertInvalid(() -> ImageNormalizer.fromBase64("data:image/png," + b64));
    assertInvalid(() -> ImageNormalizer.fromBase64("not*base64"));
  }

  @Test
  void corruptTruncatedOrForeignBytesAreInvalidImages() throws Exception {
    byte[] png = encode(picture(100, 100), "png");
    assertInvalid(() -> normalizer.normalize(Arrays.copyOf(png, png.length / 2)));
    assertInvalid(() -> normalizer.normalize("GIF89a but not really".getBytes()));
    assertInvalid(() -> normalizer.normalize("%PDF-1.7 hello".getBytes()));
    assertInvalid(() -> normalizer.normalize(new byte[0]));
    byte[] jpeg = encode(picture(100, 100), "jpeg");
    Arrays.fill(jpeg, 20, jpeg.length - 2, (byte) 0x55);
    assertInvalid(() -> normalizer.normalize(jpeg));
  }

  @Test
  void aDecompressionBombIsRefusedFromItsHeader() {
    // A PNG that claims 60,000 x 60,000 pixels: refused before any pixel is allocated.
    ByteBuffer ihdr = ByteBuffer.allocate(13).putInt(60_000).putInt(60_000);
    ihdr.put((byte) 8).put((byte) 2).put((byte) 0).put((byte) 0).put((byte) 0);
    byte[] bomb =
        concat(
            new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'},
            chunk("IHDR", ihdr.array()));
    assertThatThrownBy(() -> normalizer.normalize(bomb))
        .isInstanceOfSatisfying(
            ApiProblem.class,
            p -> {
              assertThat(p.code()).isEqualTo("invalid_image");
              assertThat(p.getMessage()).contains("60000x60000");
            });
  }

  @Test
  void overTwentyMegabytesIsPayloadTooLarge() {
    assertThatThrownBy(() -> normalizer.normalize(new byte[ImageNormalizer.MAX_BYTES + 1]))
        .isInstanceOfSatisfying(ApiProblem.class, p -> assertThat(p.status()).isEqualTo(413));
    String huge = "A".repeat((ImageNormalizer.MAX_BYTES / 3 + 10) * 4);
    assertThatThrownBy(() -> ImageNormalizer.fromBase64(huge))
        .isInstanceOfSatisfying(ApiProblem.class, p -> assertThat(p.status()).isEqualTo(413));
  }

  private static byte[] chunk(String type, byte[] data) {
    CRC32 crc = new CRC32();
    crc.update(type.getBytes());
    crc.update(data);
    return ByteBuffer.allocate(12 + data.length)
        .putInt(data.length)
        .put(type.getBytes())
        .put(data)
        .putInt((int) crc.getValue())
        .array();
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  private static void assertInvalid(org.assertj.core.api.ThrowableAssert.ThrowingCallable call) {
    assertThatThrownBy(call)
        .isInstanceOfSatisfying(
            ApiProblem.class,
            p -> {
              assertThat(p.status()).isEqualTo(400);
              assertThat(p.code()).isEqualTo("invalid_image");
            });
  }

  /**
   * The PNG that took the API down: 7000 x 7000, 16-bit RGBA, every row zero (381 KB on the wire,
   * 392 MB decoded in full). Built here, compressed as it streams.
   */
  public static byte[] sixteenBitRgbaBomb(int side) throws Exception {
    ByteBuffer ihdr = ByteBuffer.allocate(13).putInt(side).putInt(side);
    ihdr.put((byte) 16).put((byte) 6).put((byte) 0).put((byte) 0).put((byte) 0);
    ByteArrayOutputStream idat = new ByteArrayOutputStream();
    try (var z =
        new java.util.zip.DeflaterOutputStream(
            idat, new java.util.zip.Deflater(java.util.zip.Deflater.BEST_COMPRESSION), 65536)) {
      byte[] row = new byte[1 + side * 8]; // filter byte 0, then zero samples
      for (int y = 0; y < side; y++) {
        z.write(row);
      }
    }
    return concat(
        concat(
            concat(
                new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'},
                chunk("IHDR", ihdr.array())),
            chunk("IDAT", idat.toByteArray())),
        chunk("IEND", new byte[0]));
  }

  @Test
  void aSixteenBitRgbaBombDecodesSubsampledWithinTheByteBudget() throws Exception {
    byte[] bomb = sixteenBitRgbaBomb(7000);
    assertThat(bomb.length).isLessThan(ImageNormalizer.MAX_BYTES);
    try (var in = ImageIO.createImageInputStream(new ByteArrayInputStream(bomb))) {
      var reader = ImageIO.getImageReaders(in).next();
      reader.setInput(in);
      // Eight bytes a pixel (16 bits x 4 channels) plus the 4-byte RGB copy the resize reads: a
      // full decode would be 588 MB; every third pixel of every third row is 65 MB.
      assertThat(ImageNormalizer.bytesPerPixel(reader)).isEqualTo(12);
      ImageNormalizer.DecodePlan plan = ImageNormalizer.decodePlan(reader, 7000, 7000);
      assertThat(plan.step()).isEqualTo(3);
      assertThat(plan.bytes()).isEqualTo(2334L * 2334 * 12);
      assertThat(plan.bytes()).isLessThan(ImageNormalizer.DECODE_BUDGET_BYTES);
      reader.dispose();
    }
    long before = ImageNormalizer.decodeBudgetAvailable();
    ImageInput out = normalizer.normalize(bomb);
    assertThat(out.width()).isEqualTo(7000);
    assertThat(out.height()).isEqualTo(7000);
    assertThat(ImageNormalizer.decodeBudgetAvailable()).isEqualTo(before);
  }

  @Test
  void anImageWhoseDecodeCannotFitTheBudgetIsRefusedBeforeDecoding() throws Exception {
    // WebP's reader does not subsample: a large one is costed at full size.
    ImageNormalizer.DecodePlan small = ImageNormalizer.decodePlan(webpReader(), 2000, 2000);
    assertThat(small.step()).isEqualTo(1);
    assertThat(small.bytes())
        .isEqualTo(2000L * 2000 * ImageNormalizer.bytesPerPixel(webpReader()))
        .isLessThanOrEqualTo(2000L * 2000 * (8 + 4));
    assertThatThrownBy(() -> ImageNormalizer.decodePlan(webpReader(), 7000, 7000))
        .isInstanceOfSatisfying(
            ApiProblem.class, p -> assertThat(p.code()).isEqualTo("invalid_image"));
  }

  private static javax.imageio.ImageReader webpReader() throws Exception {
    var reader = ImageIO.getImageReadersByFormatName("webp").next();
    reader.setInput(ImageIO.createImageInputStream(new ByteArrayInputStream(webp())));
    return reader;
  }

  @Test
  void decodingSharesAByteBudgetAndEveryPathReturnsItsShare() throws Exception {
    byte[] png = encode(picture(1600, 1200), "png");
    byte[] corrupt = java.util.Arrays.copyOf(png, png.length / 2);
    long full = ImageNormalizer.decodeBudgetAvailable();
    assertThat(full).isEqualTo(ImageNormalizer.DECODE_BUDGET_BYTES);
    var pool = java.util.concurrent.Executors.newFixedThreadPool(8);
    try {
      java.util.List<java.util.concurrent.Future<?>> runs = new java.util.ArrayList<>();
      for (int i = 0; i < 16; i++) {
        byte[] input = i % 4 == 0 ? corrupt : png;
        runs.add(
            pool.submit(
                () -> {
                  try {
                    return normalizer.normalize(input);
                  } catch (ApiProblem e) {
                    return e;
                  }
                }));
      }
      int decoded = 0;
      for (var r : runs) {
        if (r.get(60, java.util.concurrent.TimeUnit.SECONDS) instanceof ImageInput) {
          decoded++;
        }
      }
      assertThat(decoded).isEqualTo(12);
    } finally {
      pool.shutdown();
    }
    assertThat(ImageNormalizer.decodeBudgetAvailable()).isEqualTo(full);
  }
}
