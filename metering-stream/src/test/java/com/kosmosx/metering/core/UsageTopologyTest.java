package com.kosmosx.metering.core;

import static org.assertj.core.api.Assertions.assertThat;

import com.kosmosx.contracts.JobType;
import com.kosmosx.contracts.JsonSerde;
import com.kosmosx.contracts.Topics;
import com.kosmosx.contracts.UsageEvent;
import com.kosmosx.contracts.UsageRollup;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class UsageTopologyTest {
  private TopologyTestDriver driver;
  private TestInputTopic<String, UsageEvent> usage;
  private TestOutputTopic<String, UsageRollup> rollups;

  @BeforeEach
  void setUp() {
    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, "metering-test");
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    driver = new TopologyTestDriver(UsageTopology.build(Duration.ofDays(35)), p);
    usage =
        driver.createInputTopic(
            Topics.USAGE.name(), new StringSerializer(), new JsonSerde<>(UsageEvent.class));
    rollups =
        driver.createOutputTopic(
            Topics.USAGE_ROLLUPS.name(),
            new StringDeserializer(),
            new JsonSerde<>(UsageRollup.class));
  }

  @AfterEach
  void tearDown() {
    driver.close();
  }

  private static UsageEvent text(String job, String account, int in, int out, String at) {
    return new UsageEvent(job, account, JobType.TEXT, in, out, 0, false, Instant.parse(at));
  }

  @Test
  void sumsUsagePerAccountProductAndUtcDayWithTheMinimumApplied() {
    usage.pipeInput("acc_a", text("job_1", "acc_a", 10, 5, "2026-11-27T10:00:00Z"));
    usage.pipeInput("acc_a", text("job_2", "acc_a", 300, 20, "2026-11-27T23:59:59Z"));
    usage.pipeInput("acc_a", text("job_3", "acc_a", 1, 1, "2026-11-28T00:00:00Z"));
    usage.pipeInput("acc_b", text("job_4", "acc_b", 7, 7, "2026-11-27T12:00:00Z"));

    Map<String, UsageRollup> latest = rollups.readKeyValuesToMap();
    UsageRollup day1 = latest.get("acc_a|text|2026-11-27");
    assertThat(day1.requests()).isEqualTo(2);
    assertThat(day1.inputTokens()).isEqualTo(310);
    assertThat(day1.outputTokens()).isEqualTo(25);
    assertThat(day1.billableTokens()).isEqualTo(100 + 320);
    assertThat(latest.get("acc_a|text|2026-11-28").billableTokens()).isEqualTo(100);
    assertThat(latest.get("acc_b|text|2026-11-27").requests()).isEqualTo(1);
  }

  @Test
  void aUsageEventPublishedTwiceCountsOnce() {
    var e = text("job_dup", "acc_a", 500, 100, "2026-11-27T10:00:00Z");
    usage.pipeInput("acc_a", e);
    usage.pipeInput("acc_a", e);
    var latest = rollups.readKeyValuesToMap().get("acc_a|text|2026-11-27");
    assertThat(latest.requests()).isEqualTo(1);
    assertThat(latest.billableTokens()).isEqualTo(600);
  }
}
