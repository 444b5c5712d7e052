package com.kosmosx.api.jobs;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.kosmosx.contracts.ImageInput;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;

/**
 * The model's input image, as our API makes it, against Kosmos-2's processor (Hugging Face's
 * CLIPImageProcessor, Pillow backend) on the fixtures {@code scripts/make_pixel_fixtures.py} wrote
 * with what the processor made of each: a 7×5 image enlarged, a 4000×3000 JPEG shrunk 18 times, a
 * portrait, greyscale, a palette PNG, a PNG with transparency, a CMYK JPEG. Differences are in the
 * processor's normalised units (pixel_values); the goal is mean ≤ 0.01 and max ≤ 0.05. Lossless
 * files must match exactly: the resize is Pillow's own algorithm. JPEGs may differ by the JPEG
 * decoders' rounding (Java's IJG-based one, libjpeg-turbo in Pillow), which the goal bounds.
 */
class PixelFidelityTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void theApisModelInputMatchesKosmos2ProcessorOnEveryFixture() throws Exception {
    JsonNode spec = JSON.readTree(resource("pixels.json"));
    double[] mean = doubles(spec.path("image_mean"));
    double[] std = doubles(spec.path("image_std"));
    int side = spec.path("size").asInt();
    ImageNormalizer normalizer = new ImageNormalizer(side);
    List<String> report = new ArrayList<>();
    List<double[]> measured = new ArrayList<>();
    for (JsonNode f : spec.path("fixtures")) {
      String name = f.path("file").asText();
      byte[] original = resource(name).readAllBytes();
      ImageInput in = normalizer.normalize(original);
      assertThat(in.width()).isEqualTo(f.path("size").get(0).asInt());
      assertThat(in.height()).isEqualTo(f.path("size").get(1).asInt());
      BufferedImage ours =
          ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode(in.data())));
      BufferedImage theirs = ImageIO.read(resource(name + ".expected.png"));
      assertThat(ours.getWidth()).isEqualTo(side);
      assertThat(ours.getHeight()).isEqualTo(side);
      double max = 0;
      double sum = 0;
      for (int y = 0; y < side; y++) {
        for (int x = 0; x < side; x++) {
          int a = ours.getRGB(x, y);
          int b = theirs.getRGB(x, y);
          for (int c = 0; c < 3; c++) {
            int shift = 16 - 8 * c;
            double d = Math.abs(((a >> shift) & 0xff) - ((b >> shift) & 0xff)) / 255.0 / std[c];
            max = Math.max(max, d);
            sum += d;
          }
        }
      }
      double avg = sum / (3.0 * side * side);
      report.add(
          String.format("%-28s %-5s mean %.5f max %.5f", name, f.path("mode").asText(), avg, max));
      measured.add(new double[] {avg, max, name.endsWith(".jpg") ? 1 : 0});
    }
    System.out.println("pixel_values against Kosmos2Processor (normalised units):");
    report.forEach(System.out::println);
    assertThat(measured).hasSize(7);
    for (int i = 0; i < measured.size(); i++) {
      double[] m = measured.get(i);
      assertThat(m[0]).as(report.get(i) + ": mean").isLessThanOrEqualTo(0.01);
      assertThat(m[1]).as(report.get(i) + ": max").isLessThanOrEqualTo(0.05);
      if (m[2] == 0) {
        assertThat(m[1]).as(report.get(i) + ": a lossless file must match Pillow exactly").isZero();
      }
    }
  }

  private static InputStream resource(String name) {
    InputStream in = PixelFidelityTest.class.getResourceAsStream("/pixels/" + name);
    assertThat(in).as(name).isNotNull();
    return in;
  }

  private static double[] doubles(JsonNode a) {
    double[] d = new double[a.size()];
    for (int i = 0; i < d.length; i++) {
      d[i] = a.get(i).asDouble();
    }
    return d;
  }
}
