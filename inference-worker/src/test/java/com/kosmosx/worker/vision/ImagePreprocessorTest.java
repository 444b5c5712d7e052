package com.kosmosx.worker.vision;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.kosmosx.worker.model.ModelDirectory;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.nio.file.Path;
import java.util.Base64;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;

class ImagePreprocessorTest {
  private final ImagePreprocessor pre =
      new ImagePreprocessor(ModelDirectory.open(Path.of("..", "model", "tiny-kosmos")).config());

  private static String png(BufferedImage img) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ImageIO.write(img, "png", out);
    return Base64.getEncoder().encodeToString(out.toByteArray());
  }

  @Test
  void aSolidImageNormalisesWithClipMeanAndStd() throws Exception {
    BufferedImage img = new BufferedImage(640, 480, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < 480; y++) {
      for (int x = 0; x < 640; x++) {
        img.setRGB(x, y, 0xFF8000); // r=255, g=128, b=0
      }
    }
    float[] px = pre.fromBase64("data:image/png;base64," + png(img));
    int plane = 224 * 224;
    assertThat(px).hasSize(3 * plane);
    assertThat(px[0]).isCloseTo((1f - 0.48145466f) / 0.26862954f, within(1e-5f));
    assertThat(px[plane + 100]).isCloseTo((128 / 255f - 0.4578275f) / 0.26130258f, within(1e-5f));
    assertThat(px[2 * plane + plane - 1])
        .isCloseTo((0f - 0.40821073f) / 0.27577711f, within(1e-5f));
  }

  @Test
  void theWholeImageIsResizedWithoutCropping() throws Exception {
    // Left half black, right half white on a wide image: the boundary lands mid-width at 224.
    BufferedImage img = new BufferedImage(1000, 100, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < 100; y++) {
      for (int x = 500; x < 1000; x++) {
        img.setRGB(x, y, 0xFFFFFF);
      }
    }
    float[] px = pre.fromBase64(png(img));
    float black = (0f - 0.48145466f) / 0.26862954f;
    float white = (1f - 0.48145466f) / 0.26862954f;
    assertThat(px[100 * 224 + 5]).isCloseTo(black, within(1e-3f));
    assertThat(px[100 * 224 + 218]).isCloseTo(white, within(1e-3f));
  }

  /**
   * The worker alone, on the original files (a job whose image skipped the API's resize, or a model
   * with another input size): its pixel_values equal Kosmos2Processor's to the float, at the three
   * positions the fixture script sampled from the processor itself, and everywhere against the
   * processor's resized image (scripts/make_pixel_fixtures.py; the API's side is
   * PixelFidelityTest).
   */
  @Test
  void pixelValuesAreKosmos2ProcessorsOnTheFixtures() throws Exception {
    Path dir = Path.of("..", "api-service", "src", "test", "resources", "pixels");
    com.fasterxml.jackson.databind.JsonNode spec =
        new com.fasterxml.jackson.databind.ObjectMapper()
            .readTree(dir.resolve("pixels.json").toFile());
    int plane = 224 * 224;
    int checked = 0;
    for (com.fasterxml.jackson.databind.JsonNode f : spec.path("fixtures")) {
      String name = f.path("file").asText();
      float[] ours =
          pre.fromBase64(
              Base64.getEncoder()
                  .encodeToString(java.nio.file.Files.readAllBytes(dir.resolve(name))));
      float[] theirs = pre.pixels(ImageIO.read(dir.resolve(name + ".expected.png").toFile()));
      assertThat(ours).as(name).containsExactly(theirs);
      int[][] at = {{0, 0, 0}, {1, 111, 57}, {2, 223, 223}};
      for (int i = 0; i < at.length; i++) {
        float hf = (float) f.path("pixel_values_sample").get(i).asDouble();
        assertThat(ours[at[i][0] * plane + at[i][1] * 224 + at[i][2]]).as(name).isEqualTo(hf);
      }
      checked++;
    }
    assertThat(checked).isEqualTo(7);
  }

  @Test
  void garbageIsAnInvalidImage() {
    assertThatThrownBy(() -> pre.fromBase64("not base64 !!!"))
        .isInstanceOf(ImagePreprocessor.InvalidImageException.class);
    assertThatThrownBy(() -> pre.fromBase64(Base64.getEncoder().encodeToString(new byte[100])))
        .isInstanceOf(ImagePreprocessor.InvalidImageException.class);
  }
}
