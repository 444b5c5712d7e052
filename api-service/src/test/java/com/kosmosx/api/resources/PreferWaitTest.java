package com.kosmosx.api.resources;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** RFC 7240 {@code Prefer: wait} as API.md uses it: at most 60 s, bare "wait" meaning 60. */
class PreferWaitTest {
  @Test
  void parsesWaitAmongOtherPreferences() {
    assertThat(JobResource.waitSeconds(null)).isNull();
    assertThat(JobResource.waitSeconds("respond-async")).isNull();
    assertThat(JobResource.waitSeconds("wait=10")).isEqualTo(10);
    assertThat(JobResource.waitSeconds("WAIT = 7")).isEqualTo(7);
    assertThat(JobResource.waitSeconds("handling=lenient, wait=3")).isEqualTo(3);
    assertThat(JobResource.waitSeconds("wait=\"5\"")).isEqualTo(5);
    assertThat(JobResource.waitSeconds("wait")).isEqualTo(60);
    assertThat(JobResource.waitSeconds("wait=600")).isEqualTo(60);
    assertThat(JobResource.waitSeconds("wait=0")).isEqualTo(0);
    assertThat(JobResource.waitSeconds("waiting=5")).isNull();
    assertThat(JobResource.waitSeconds("wait=abc")).isNull();
  }
}
