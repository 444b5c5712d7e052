package com.kosmosx.api.jobs;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import org.junit.jupiter.api.Test;

class IdsTest {
  @Test
  void idsSortByCreationTime() {
    String earlier = Ids.job(Clock.fixed(Instant.parse("2026-01-01T00:00:00Z"), ZoneOffset.UTC));
    String later = Ids.job(Clock.fixed(Instant.parse("2026-01-01T00:00:00.001Z"), ZoneOffset.UTC));
    assertThat(earlier).startsWith("job_").hasSize(30);
    assertThat(earlier.compareTo(later)).isNegative();
  }

  @Test
  void idsCreatedInTheSameMillisecondDiffer() {
    Clock c = Clock.fixed(Instant.parse("2026-01-01T00:00:00Z"), ZoneOffset.UTC);
    assertThat(Ids.job(c)).isNotEqualTo(Ids.job(c));
  }
}
