package com.kosmosx.metering;

import com.fasterxml.jackson.annotation.JsonProperty;
import io.dropwizard.core.Configuration;
import io.dropwizard.util.Duration;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotEmpty;
import jakarta.validation.constraints.NotNull;

/** metering-stream configuration. */
public class MeteringConfiguration extends Configuration {
  @NotEmpty @JsonProperty public String kafkaBootstrap = "localhost:9092";

  /** Kafka Streams application id: the consumer group and the prefix of internal topics. */
  @NotEmpty @JsonProperty public String applicationId = "kosmos-metering";

  /** Local state (RocksDB); rebuilt from changelogs if lost. */
  @NotEmpty @JsonProperty public String stateDir = "/tmp/kosmos-metering";

  /** How often results are committed (and so visible to read_committed readers). */
  @NotNull @JsonProperty public Duration commitInterval = Duration.milliseconds(200);

  /** How long a usage event id is remembered for deduplication. */
  @NotNull @JsonProperty public Duration dedupeRetention = Duration.days(35);

  @Min(1)
  @JsonProperty
  public int topicPartitions = 4;

  @Min(1)
  @JsonProperty
  public short replicationFactor = 1;
}
