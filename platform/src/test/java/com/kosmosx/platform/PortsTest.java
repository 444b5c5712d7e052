package com.kosmosx.platform;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class PortsTest {
  @Test
  void neverHandsOutTheSamePortTwice() {
    Set<Integer> seen = new HashSet<>();
    for (int i = 0; i < 200; i++) {
      assertThat(seen.add(Ports.free())).as("port %d handed out again", i).isTrue();
    }
  }
}
