package com.kosmosx.contracts.image;

import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.Raster;

/**
 * The image steps of Kosmos-2's processor, reproduced bit for bit: Pillow's {@code convert("RGB")}
 * and its antialiased bicubic {@code resize}, which is what {@code CLIPImageProcessor} runs before
 * rescaling and normalising. Java2D's bicubic is neither antialiased nor the same kernel (a 4×4 tap
 * filter at every scale), so a 4000×3000 photo drawn into 224×224 with it aliases: the model would
 * see other pixels than under Hugging Face and could move its boxes.
 *
 * <p>Pillow's algorithm ({@code libImaging/Resample.c}, 8 bits per channel): a separable
 * convolution, horizontal pass first, over the rows the vertical pass needs; the kernel is Keys'
 * cubic with a = -0.5 stretched by the scale when shrinking (support 2 × scale); each output
 * pixel's weights are normalised to sum to 1, turned into fixed point with 22 fraction bits, and
 * each pass rounds and clips to 8 bits. This class does exactly that, so the result is identical to
 * Pillow's, not just close (ImagePreprocessorFidelityTest measures it against the processor's
 * output).
 */
public final class PilImages {
  private static final int PRECISION_BITS = 32 - 8 - 2;
  private static final double SUPPORT = 2.0;

  private PilImages() {}

  /**
   * Pillow's {@code convert("RGB")} of a decoded image, packed 0xRRGGBB, row-major: alpha is
   * dropped (not composited: that is what the processor does, so a fully transparent pixel is its
   * stored colour), grey is replicated from the raw sample (Java's own conversion would treat 8-bit
   * grey as linear light and brighten it), palettes are looked up, CMYK JPEGs (as Adobe software
   * writes them, inverted) use Pillow's naive conversion rather than Java's colour management.
   */
  public static int[] rgb(BufferedImage img) {
    int w = img.getWidth();
    int h = img.getHeight();
    int[] out = new int[w * h];
    ColorSpace cs = img.getColorModel().getColorSpace();
    Raster raster = img.getRaster();
    if (cs.getType() == ColorSpace.TYPE_GRAY && raster.getNumBands() <= 2) {
      int bits = img.getColorModel().getComponentSize(0);
      int shift = Math.max(0, bits - 8);
      int[] row = new int[w];
      for (int y = 0; y < h; y++) {
        raster.getSamples(0, y, w, 1, 0, row);
        for (int x = 0; x < w; x++) {
          int v = Math.min(255, row[x] >> shift);
          out[y * w + x] = v << 16 | v << 8 | v;
        }
      }
      return out;
    }
    if (cs.getType() == ColorSpace.TYPE_CMYK && raster.getNumBands() == 4) {
      // Java's JPEG reader gives ink amounts (it undoes Adobe's inverted storage, as Pillow's
      // "CMYK;I" does); Pillow then converts per channel with nk - ink × nk / 255, nk = 255 -
      // black (cmyk2rgb), in integers.
      int[] px = new int[4 * w];
      for (int y = 0; y < h; y++) {
        raster.getPixels(raster.getMinX(), raster.getMinY() + y, w, 1, px);
        for (int x = 0; x < w; x++) {
          int nk = 255 - px[4 * x + 3];
          out[y * w + x] =
              cmyk(px[4 * x], nk) << 16 | cmyk(px[4 * x + 1], nk) << 8 | cmyk(px[4 * x + 2], nk);
        }
      }
      return out;
    }
    img.getRGB(0, 0, w, h, out, 0, w);
    for (int i = 0; i < out.length; i++) {
      out[i] &= 0xffffff;
    }
    return out;
  }

  /**
   * Pillow's {@code Image.resize((tw, th), Image.BICUBIC)} of packed 0xRRGGBB pixels. The same size
   * returns a copy, as Pillow does.
   */
  public static int[] resize(int[] rgb, int w, int h, int tw, int th) {
    if (w <= 0 || h <= 0 || tw <= 0 || th <= 0 || rgb.length != w * h) {
      throw new IllegalArgumentException(
          "bad image geometry " + w + "x" + h + " -> " + tw + "x" + th);
    }
    if (w == tw && h == th) {
      return rgb.clone();
    }
    Coefficients vert = Coefficients.of(h, th);
    int first = vert.bounds[0];
    int last = vert.bounds[2 * (th - 1)] + vert.bounds[2 * (th - 1) + 1];
    int[] src = rgb;
    int rowOffset = 0;
    if (w != tw) {
      // Horizontal pass over the rows the vertical pass reads, into an 8-bit image.
      Coefficients horiz = Coefficients.of(w, tw);
      int rows = last - first;
      int[] tmp = new int[tw * rows];
      for (int y = 0; y < rows; y++) {
        int base = (y + first) * w;
        for (int x = 0; x < tw; x++) {
          int xmin = horiz.bounds[2 * x];
          int xmax = horiz.bounds[2 * x + 1];
          int k = x * horiz.ksize;
          int r = 1 << (PRECISION_BITS - 1);
          int g = r;
          int b = r;
          for (int i = 0; i < xmax; i++) {
            int p = rgb[base + xmin + i];
            int c = horiz.kk[k + i];
            r += ((p >> 16) & 0xff) * c;
            g += ((p >> 8) & 0xff) * c;
            b += (p & 0xff) * c;
          }
          tmp[y * tw + x] = clip8(r) << 16 | clip8(g) << 8 | clip8(b);
        }
      }
      src = tmp;
      rowOffset = first;
    }
    if (h == th) {
      return src;
    }
    int[] out = new int[tw * th];
    for (int y = 0; y < th; y++) {
      int ymin = vert.bounds[2 * y] - rowOffset;
      int ymax = vert.bounds[2 * y + 1];
      int k = y * vert.ksize;
      for (int x = 0; x < tw; x++) {
        int r = 1 << (PRECISION_BITS - 1);
        int g = r;
        int b = r;
        for (int i = 0; i < ymax; i++) {
          int p = src[(ymin + i) * tw + x];
          int c = vert.kk[k + i];
          r += ((p >> 16) & 0xff) * c;
          g += ((p >> 8) & 0xff) * c;
          b += (p & 0xff) * c;
        }
        out[y * tw + x] = clip8(r) << 16 | clip8(g) << 8 | clip8(b);
      }
    }
    return out;
  }

  /** Pillow's {@code cmyk2rgb} for one channel: nk - MULDIV255(ink, nk), clipped. */
  private static int cmyk(int ink, int nk) {
    int tmp = ink * nk + 128;
    int v = nk - (((tmp >> 8) + tmp) >> 8);
    return v < 0 ? 0 : Math.min(255, v);
  }

  private static int clip8(int v) {
    if (v >= (1 << PRECISION_BITS << 8)) {
      return 255;
    }
    if (v <= 0) {
      return 0;
    }
    return v >> PRECISION_BITS;
  }

  /** Keys' cubic convolution kernel with a = -0.5, as Pillow's {@code bicubic_filter}. */
  static double bicubic(double x) {
    double a = -0.5;
    if (x < 0.0) {
      x = -x;
    }
    if (x < 1.0) {
      return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    }
    if (x < 2.0) {
      return (((x - 5) * x + 8) * x - 4) * a;
    }
    return 0.0;
  }

  /** Pillow's {@code precompute_coeffs} + {@code normalize_coeffs_8bpc} for one axis. */
  private record Coefficients(int ksize, int[] bounds, int[] kk) {
    static Coefficients of(int inSize, int outSize) {
      double scale = (double) inSize / outSize;
      double filterscale = Math.max(1.0, scale);
      double support = SUPPORT * filterscale;
      int ksize = (int) Math.ceil(support) * 2 + 1;
      int[] bounds = new int[outSize * 2];
      int[] kk = new int[outSize * ksize];
      double[] k = new double[ksize];
      for (int xx = 0; xx < outSize; xx++) {
        double center = (xx + 0.5) * scale;
        double ww = 0.0;
        double ss = 1.0 / filterscale;
        int xmin = (int) (center - support + 0.5);
        if (xmin < 0) {
          xmin = 0;
        }
        int xmax = (int) (center + support + 0.5);
        if (xmax > inSize) {
          xmax = inSize;
        }
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
          double w = bicubic((x + xmin - center + 0.5) * ss);
          k[x] = w;
          ww += w;
        }
        for (int x = 0; x < ksize; x++) {
          double v = x < xmax && ww != 0.0 ? k[x] / ww : 0.0;
          kk[xx * ksize + x] =
              v < 0
                  ? (int) (-0.5 + v * (1 << PRECISION_BITS))
                  : (int) (0.5 + v * (1 << PRECISION_BITS));
        }
        bounds[2 * xx] = xmin;
        bounds[2 * xx + 1] = xmax;
      }
      return new Coefficients(ksize, bounds, kk);
    }
  }
}
