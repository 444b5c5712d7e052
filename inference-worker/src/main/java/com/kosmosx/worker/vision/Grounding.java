package com.kosmosx.worker.vision;

import com.kosmosx.contracts.JobEvent;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Kosmos-2's grounding post-processing, as the Hugging Face processor does it ({@code
 * clean_text_and_extract_entities_with_bboxes}): find {@code <phrase>…</phrase><object>…</object>}
 * groups (the phrase is optional; several boxes are joined by {@code
 * </delimiter_of_multi_objects/>}), turn each pair of patch indices into a box on the 32×32 grid,
 * strip every tag from the text and trim it. A phrase with several boxes yields one object per box;
 * an object without a phrase has a null label.
 */
public final class Grounding {
  /** Kosmos-2's grid: 32 × 32 patches, indices 0..1023. */
  public static final int GRID = 32;

  private static final Pattern ENTITY =
      Pattern.compile(
          "(?:(<phrase>([^<]+)</phrase>))?<object>((?:<patch_index_\\d+><patch_index_\\d+>"
              + "</delimiter_of_multi_objects/>)*<patch_index_\\d+><patch_index_\\d+>)</object>");
  private static final Pattern PATCH = Pattern.compile("<patch_index_(\\d+)>");
  private static final Pattern TAG = Pattern.compile("<.*?>");

  private Grounding() {}

  /** An object with its label and span in the cleaned text. */
  public record Entity(String label, int start, int end, List<JobEvent.Box> boxes) {}

  /** Text with the tags removed, and the entities found. */
  public record Result(String text, List<Entity> entities) {
    /** One object per box, in order of appearance. */
    public List<JobEvent.DetectedObject> objects() {
      List<JobEvent.DetectedObject> out = new ArrayList<>();
      for (Entity e : entities) {
        for (JobEvent.Box b : e.boxes()) {
          out.add(new JobEvent.DetectedObject(e.label(), b));
        }
      }
      return out;
    }
  }

  public static Result parse(String text) {
    List<Entity> raw = new ArrayList<>();
    Matcher m = ENTITY.matcher(text);
    while (m.find()) {
      String phrase = m.group(2);
      int start = phrase == null ? m.start() : m.start(2);
      int end = phrase == null ? m.start() : m.end(2);
      List<JobEvent.Box> boxes = new ArrayList<>();
      for (String pair : m.group(3).split("</delimiter_of_multi_objects/>")) {
        Matcher p = PATCH.matcher(pair);
        if (p.find()) {
          int ul = Integer.parseInt(p.group(1));
          if (p.find()) {
            int lr = Integer.parseInt(p.group(1));
            if (ul < GRID * GRID && lr < GRID * GRID) {
              boxes.add(box(ul, lr, GRID));
            }
          }
        }
      }
      if (!boxes.isEmpty()) {
        raw.add(
            new Entity(
                phrase, stripped(text, start).length(), stripped(text, end).length(), boxes));
      }
    }
    String processed = TAG.matcher(text).replaceAll("");
    // _cleanup_spaces: trim the text, shift the spans, trim the labels.
    String trimmed = processed.strip();
    int leading = processed.length() - processed.stripLeading().length();
    List<Entity> entities = new ArrayList<>(raw.size());
    for (Entity e : raw) {
      String label = e.label();
      int lead = label == null ? 0 : label.length() - label.stripLeading().length();
      int trail = label == null ? 0 : label.length() - label.stripTrailing().length();
      entities.add(
          new Entity(
              label == null ? null : label.strip(),
              e.start() - leading + lead,
              e.end() - leading - trail,
              e.boxes()));
    }
    return new Result(trimmed, List.copyOf(entities));
  }

  /**
   * Kosmos-2's {@code patch_index_to_coordinate}: the upper-left and lower-right patch indices of a
   * box to normalised corners. A box that degenerates to one row or column covers whole patches;
   * otherwise the corners are patch centres.
   */
  public static JobEvent.Box box(int ul, int lr, int grid) {
    double c = 1.0 / grid;
    int ux = ul % grid;
    int uy = ul / grid;
    int lx = lr % grid;
    int ly = lr / grid;
    if (ul == lr || ux == lx || uy == ly) {
      return new JobEvent.Box(ux * c, uy * c, (lx + 1) * c, (ly + 1) * c);
    }
    return new JobEvent.Box((ux + 0.5) * c, (uy + 0.5) * c, (lx + 0.5) * c, (ly + 0.5) * c);
  }

  /**
   * A normalised box in pixels of an image of the given size (what a client draws on the original
   * image; the model saw it resized without cropping, so normalised coordinates carry over).
   */
  public static int[] toPixels(JobEvent.Box b, int width, int height) {
    return new int[] {
      (int) Math.round(b.x0() * width),
      (int) Math.round(b.y0() * height),
      (int) Math.round(b.x1() * width),
      (int) Math.round(b.y1() * height)
    };
  }

  private static String stripped(String text, int end) {
    return TAG.matcher(text.substring(0, end)).replaceAll("");
  }
}
