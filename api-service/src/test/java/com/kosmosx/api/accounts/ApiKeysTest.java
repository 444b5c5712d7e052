package com.kosmosx.api.accounts;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ApiKeysTest {
  @Test
  void keysHaveThePrefixHighEntropyAndAValidChecksum() {
    Set<String> seen = new HashSet<>();
    for (int i = 0; i < 1000; i++) {
      String key = ApiKeys.generate();
      assertThat(key).startsWith("kx_live_").hasSize(8 + 43 + 6).matches("kx_live_[0-9A-Za-z]+");
      assertThat(ApiKeys.wellFormed(key)).isTrue();
      assertThat(seen.add(key)).isTrue();
    }
  }

  @Test
  void aSingleChangedCharacterBreaksTheChecksum() {
    String key = ApiKeys.generate();
    char c = key.charAt(20);
    String typo = key.substring(0, 20) + (c == 'a' ? 'b' : 'a') + key.substring(21);
    assertThat(ApiKeys.wellFormed(typo)).isFalse();
    assertThat(ApiKeys.wellFormed("kx_live_short")).isFalse();
    assertThat(ApiKeys.wellFormed(null)).isFalse();
  }

  @Test
  void theStoredHashIsSha256AndThePrefixRevealsLittle() {
    String key = ApiKeys.generate();
    assertThat(ApiKeys.hash(key)).hasSize(32).isEqualTo(ApiKeys.hash(key));
    assertThat(ApiKeys.displayPrefix(key)).hasSize(12).isEqualTo(key.substring(0, 12));
  }
}
