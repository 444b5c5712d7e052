package com.kosmosx.contracts;

import static org.assertj.core.api.Assertions.assertThat;

import org.apache.kafka.common.config.TopicConfig;
import org.junit.jupiter.api.Test;

class TopicsTest {

  @Test
  void topicsWithClientContentAgeOutWithinAStatedBound() {
    // Inputs: a closed account's job messages leave Kafka within a day.
    assertThat(Topics.jobs("acme").config().get(TopicConfig.RETENTION_MS_CONFIG))
        .isEqualTo(String.valueOf(24L * 3600 * 1000));
    assertThat(Topics.JOBS_SHARED.config().get(TopicConfig.RETENTION_MS_CONFIG))
        .isEqualTo(String.valueOf(24L * 3600 * 1000));
    // Outputs: job events within 7 days.
    assertThat(Topics.JOB_EVENTS.config().get(TopicConfig.RETENTION_MS_CONFIG))
        .isEqualTo(String.valueOf(7L * 24 * 3600 * 1000));
  }
}
