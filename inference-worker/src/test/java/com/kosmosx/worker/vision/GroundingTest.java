package com.kosmosx.worker.vision;

import static org.assertj.core.api.Assertions.assertThat;

import com.kosmosx.contracts.JobEvent;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Kosmos-2's post-processing, checked against its published worked example and edge cases. */
class GroundingTest {
  private static final String SNOWMAN =
      "<grounding> An image of<phrase> a snowman</phrase><object><patch_index_0044>"
          + "<patch_index_0863></object> warming himself by<phrase> a fire</phrase><object>"
          + "<patch_index_0005><patch_index_0911></object>.";

  @Test
  void theKosmos2WorkedExample() {
    Grounding.Result r = Grounding.parse(SNOWMAN);
    assertThat(r.text()).isEqualTo("An image of a snowman warming himself by a fire.");
    assertThat(r.entities())
        .containsExactly(
            new Grounding.Entity(
                "a snowman",
                12,
                21,
                List.of(new JobEvent.Box(0.390625, 0.046875, 0.984375, 0.828125))),
            new Grounding.Entity(
                "a fire",
                41,
                47,
                List.of(new JobEvent.Box(0.171875, 0.015625, 0.484375, 0.890625))));
    assertThat(r.text().substring(12, 21)).isEqualTo("a snowman");
    assertThat(r.text().substring(41, 47)).isEqualTo("a fire");
    assertThat(r.objects())
        .extracting(JobEvent.DetectedObject::label)
        .containsExactly("a snowman", "a fire");
  }

  @Test
  void severalBoxesForOnePhraseGiveOneObjectEach() {
    Grounding.Result r =
        Grounding.parse(
            "<grounding> An image of<phrase> two dogs</phrase><object><patch_index_0100>"
                + "<patch_index_0400></object></delimiter_of_multi_objects/><patch_index_0500>"
                + "<patch_index_0900></object> in a park.");
    // The delimiter sits outside </object> here, so the regex sees one box (as Hugging Face's
    // does).
    assertThat(r.objects()).hasSize(1);
    Grounding.Result two =
        Grounding.parse(
            "<phrase>two dogs</phrase><object><patch_index_0100><patch_index_0400>"
                + "</delimiter_of_multi_objects/><patch_index_0500><patch_index_0900></object>");
    assertThat(two.objects())
        .containsExactly(
            new JobEvent.DetectedObject("two dogs", Grounding.box(100, 400, 32)),
            new JobEvent.DetectedObject("two dogs", Grounding.box(500, 900, 32)));
    assertThat(two.text()).isEqualTo("two dogs");
  }

  @Test
  void anObjectWithoutAPhraseHasNoLabel() {
    Grounding.Result r =
        Grounding.parse("It is<object><patch_index_0000><patch_index_1023></object> here.");
    assertThat(r.text()).isEqualTo("It is here.");
    assertThat(r.entities()).hasSize(1);
    assertThat(r.entities().get(0).label()).isNull();
    assertThat(r.entities().get(0).start()).isEqualTo(5);
    assertThat(r.entities().get(0).boxes())
        .containsExactly(new JobEvent.Box(1 / 64.0, 1 / 64.0, 63 / 64.0, 63 / 64.0));
  }

  @Test
  void malformedTagsAreStrippedWithoutObjects() {
    Grounding.Result r =
        Grounding.parse("<phrase> a cat</phrase><object><patch_index_0044></object> sat<object>");
    assertThat(r.objects()).isEmpty();
    assertThat(r.text()).isEqualTo("a cat sat");
    assertThat(Grounding.parse("plain text").text()).isEqualTo("plain text");
    assertThat(Grounding.parse("").objects()).isEmpty();
  }

  @Test
  void boxMappingFollowsPatchIndexToCoordinate() {
    // Same patch: the whole patch.
    assertThat(Grounding.box(33, 33, 32))
        .isEqualTo(new JobEvent.Box(1 / 32.0, 1 / 32.0, 2 / 32.0, 2 / 32.0));
    // Same row: whole patches along it.
    assertThat(Grounding.box(0, 5, 32)).isEqualTo(new JobEvent.Box(0, 0, 6 / 32.0, 1 / 32.0));
    // Same column.
    assertThat(Grounding.box(2, 66, 32))
        .isEqualTo(new JobEvent.Box(2 / 32.0, 0, 3 / 32.0, 3 / 32.0));
    // General case: patch centres.
    assertThat(Grounding.box(0, 1023, 32))
        .isEqualTo(new JobEvent.Box(0.5 / 32, 0.5 / 32, 31.5 / 32, 31.5 / 32));
    // Normalised corners onto the original image's pixels (resized without crop).
    assertThat(
            Grounding.toPixels(new JobEvent.Box(0.390625, 0.046875, 0.984375, 0.828125), 640, 480))
        .containsExactly(250, 23, 630, 398);
  }
}
