package com.kosmosx.api.core;

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

class ImageNormalizerTest {
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
    assertThat(normalised.getWidth()).isEqualTo(320);
    assertThat(normalised.getHeight()).isEqualTo(200);
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
    assertThat(Math.max(small.getWidth(), small.getHeight())).isEqualTo(ImageNormalizer.MAX_SIDE);
    assertThat(small.getWidth() * 3).isEqualTo(small.getHeight() * 4);
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

  @Test
  void decodingSharesAMegapixelBudgetAndEveryPathReturnsItsShare() throws Exception {
    assertThat(ImageNormalizer.megapixels(1, 1)).isEqualTo(1);
    assertThat(ImageNormalizer.megapixels(1000, 1000)).isEqualTo(1);
    assertThat(ImageNormalizer.megapixels(1001, 1000)).isEqualTo(2);
    assertThat(ImageNormalizer.megapixels(50_000, 1_000))
        .isEqualTo(ImageNormalizer.DECODE_BUDGET_MEGAPIXELS);
    byte[] png = encode(picture(1600, 1200), "png");
    byte[] corrupt = java.util.Arrays.copyOf(png, png.length / 2);
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
    assertThat(ImageNormalizer.decodeBudgetAvailable())
        .isEqualTo(ImageNormalizer.DECODE_BUDGET_MEGAPIXELS);
  }
}
