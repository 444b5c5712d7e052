package com.kosmosx.metering;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.kosmosx.contracts.PriceList;
import io.dropwizard.core.Configuration;
import io.dropwizard.util.Duration;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotEmpty;
import jakarta.validation.constraints.NotNull;

/** metering-stream configuration. */
public class MeteringConfiguration extends Configuration {
  @NotEmpty @JsonProperty public String kafkaBootstrap = "localhost:9092";

  /**
   * Kafka Streams application id: the consumer group and the prefix of internal topics. A new id
   * rebuilds every rollup by replaying the usage topic from its start (README, "Metering").
   */
  // v3: the rollup store changed to a binary format (RollupStoreSerde); a new id rebuilds.
  @NotEmpty @JsonProperty public String applicationId = "kosmos-metering-v3";

  /** Local state (RocksDB); rebuilt from changelogs if lost. */
  @NotEmpty @JsonProperty public String stateDir = "/tmp/kosmos-metering";

  /** How often results are committed (and so visible to read_committed readers). */
  @NotNull @JsonProperty public Duration commitInterval = Duration.milliseconds(200);

  /** How long a usage event id is remembered for deduplication. */
  @NotNull @JsonProperty public Duration dedupeRetention = Duration.days(35);

  /** The price list (the seed's by default); the API must be given the same one. */
  @NotNull @JsonProperty public PriceList prices = PriceList.SEED;

  /**
   * Record cache for the rollup store: folds a rollup's updates between commits. 0 turns folding
   * off (every update is written and forwarded at once).
   */
  @Min(0)
  @JsonProperty
  public long rollupCacheBytes = 16L * 1024 * 1024;

  @Min(1)
  @JsonProperty
  public int topicPartitions = 4;

  @Min(1)
  @JsonProperty
  public short replicationFactor = 1;
}
