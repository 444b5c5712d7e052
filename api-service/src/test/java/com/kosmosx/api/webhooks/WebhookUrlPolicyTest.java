package com.kosmosx.api.webhooks;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.kosmosx.api.errors.ApiProblem;
import java.net.InetAddress;
import java.util.Set;
import org.junit.jupiter.api.Test;

class WebhookUrlPolicyTest {
  private final WebhookUrlPolicy strict = new WebhookUrlPolicy(Set.of());

  @Test
  void inwardAddressesAreNotPublic() throws Exception {
    for (String a :
        new String[] {
          "127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "0.0.0.0",
          "100.64.0.1", "224.0.0.1", "::1", "fe80::1", "fd12:3456::1", "::ffff:10.0.0.1",
          "198.18.0.1", "240.0.0.1"
        }) {
      assertThat(WebhookUrlPolicy.isPublic(InetAddress.getByName(a))).as(a).isFalse();
    }
    for (String a : new String[] {"93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"}) {
      assertThat(WebhookUrlPolicy.isPublic(InetAddress.getByName(a))).as(a).isTrue();
    }
  }

  @Test
  void loopbackUrlsAreRefusedUnlessAllowListed() {
    for (String url :
        new String[] {"http://localhost:8080/x", "http://127.0.0.1/x", "http://[::1]/x"}) {
      assertThatThrownBy(() -> strict.check(url))
          .isInstanceOfSatisfying(
              ApiProblem.class, p -> assertThat(p.code()).isEqualTo("invalid_webhook_url"));
    }
    assertThat(new WebhookUrlPolicy(Set.of("localhost")).check("http://localhost:8080/x").getPort())
        .isEqualTo(8080);
  }
}
