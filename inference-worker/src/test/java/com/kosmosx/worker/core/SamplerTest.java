package com.kosmosx.worker.core;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import org.junit.jupiter.api.Test;

class SamplerTest {
  private static final float[] LOGITS = {0.1f, 2.0f, 1.9f, -3f, 0.5f};

  @Test
  void greedyTakesTheArgmaxByDefault() {
    assertThat(new Sampler(null, null, null).pick(LOGITS)).isEqualTo(1);
    assertThat(new Sampler(0.0, 0.5, 3L).pick(LOGITS)).isEqualTo(1);
  }

  @Test
  void theSameSeedGivesTheSameSamples() {
    assertThat(draw(42L, 1.0, 1.0)).isEqualTo(draw(42L, 1.0, 1.0));
    assertThat(draw(42L, 1.0, 1.0)).isNotEqualTo(draw(43L, 1.0, 1.0));
  }

  @Test
  void topPKeepsOnlyTheNucleus() {
    // The two best tokens hold most of the mass; with top_p 0.5 only they can appear.
    assertThat(new HashSet<>(draw(7L, 1.0, 0.5))).isSubsetOf(1, 2);
    // With full mass and high temperature every token shows up eventually.
    assertThat(new HashSet<>(draw(7L, 5.0, 1.0))).containsExactlyInAnyOrder(0, 1, 2, 3, 4);
  }

  private static List<Integer> draw(long seed, double temperature, double topP) {
    Sampler s = new Sampler(temperature, topP, seed);
    List<Integer> out = new ArrayList<>();
    for (int i = 0; i < 300; i++) {
      out.add(s.pick(LOGITS));
    }
    return out;
  }
}
