package com.kosmosx.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.kosmosx.platform.SharedPlatform;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * An API instance that dies after answering 202 but before its relay published still loses nothing:
 * the job waits in the outbox and the next instance publishes it.
 */
class OutboxDurabilityIT {

  @Test
  void jobsAcceptedByADeadInstanceArePublishedByTheNextOne() throws Exception {
    String jdbcUrl = SharedPlatform.freshDatabase("outbox_it");
    List<String> ids = new ArrayList<>();

    // Given an instance whose relay never runs (it "dies" right after answering)
    try (ApiTestApp doomed =
        new ApiTestApp("config.yml", jdbcUrl, ApiTestApp.setting("outbox.relayEnabled", "false"))
            .start()) {
      String key = doomed.newAccountKey("outbox_user");
      for (int i = 0; i < 5; i++) {
        var r =
            doomed.postJson(
                "/v1/jobs",
                "{\"type\":\"text\",\"input\":{\"prompt\":\"job " + i + "\"}}",
                "X-API-Key",
                key);
        assertThat(r.statusCode()).isEqualTo(202);
        ids.add(ApiTestApp.json(r).path("id").asText());
      }
    }
    assertThat(outboxSize(jdbcUrl)).isEqualTo(5);

    // When the next instance starts on the same database
    try (ApiTestApp next = new ApiTestApp("config.yml", jdbcUrl).start()) {
      // Then every accepted job reaches Kafka and the outbox drains
      for (String id : ids) {
        assertThat(ApiServiceIT.awaitJobRequest(id).jobId()).isEqualTo(id);
      }
      long end = System.nanoTime() + 10_000_000_000L;
      while (outboxSize(jdbcUrl) > 0 && System.nanoTime() < end) {
        Thread.sleep(50);
      }
      assertThat(outboxSize(jdbcUrl)).isZero();
    }
  }

  static long outboxSize(String jdbcUrl) throws Exception {
    try (Connection c = DriverManager.getConnection(jdbcUrl, "postgres", "");
        Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT count(*) FROM outbox")) {
      rs.next();
      return rs.getLong(1);
    }
  }
}
