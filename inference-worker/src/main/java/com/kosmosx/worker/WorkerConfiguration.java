package com.kosmosx.worker;

import com.fasterxml.jackson.annotation.JsonProperty;
import io.dropwizard.core.Configuration;
import io.dropwizard.util.Duration;
import jakarta.validation.Valid;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotEmpty;
import jakarta.validation.constraints.NotNull;
import jakarta.validation.constraints.Pattern;
import java.util.List;

/** inference-worker configuration; defaults serve the shared lane with the shipped tiny model. */
public class WorkerConfiguration extends Configuration {

  /** Kafka bootstrap servers. */
  @NotEmpty @JsonProperty public String kafkaBootstrap = "localhost:9092";

  /**
   * Stable identity of this worker: its transactional ids derive from it, so a restarted worker
   * with the same id fences its predecessor and aborts the transaction it left open.
   */
  @NotEmpty
  @Pattern(regexp = "[A-Za-z0-9._-]{1,100}")
  @JsonProperty
  public String workerId = "worker-1";

  /** Consumer group shared by all workers of the fleet (per lane, Kafka spreads partitions). */
  @NotEmpty @JsonProperty public String consumerGroup = "kosmos-workers";

  /** Lanes this worker serves: {@code shared}, or dedicated lane names for reserved workers. */
  @NotEmpty @JsonProperty public List<String> lanes = List.of("shared");

  @Valid @NotNull @JsonProperty public ModelSettings model = new ModelSettings();

  /**
   * Where the worker keeps what it is running (its crash ledger), so that a job that kills the
   * worker every time is dead-lettered after {@link #maxAttempts} instead of killing them all.
   */
  @NotEmpty @JsonProperty public String stateDir = "/tmp/kosmos-worker-state";

  /** A job running each time the worker died this many times goes to the dead-letter topic. */
  @Min(1)
  @JsonProperty
  public int maxAttempts = 3;

  /** A job running longer than this fails with {@code timeout}. */
  @NotNull @JsonProperty public Duration jobTimeLimit = Duration.minutes(10);

  /** Prompt tokens + max_tokens limit, as the API enforces it. */
  @Min(1)
  @JsonProperty
  public int maxContextTokens = 20_000;

  @Min(1)
  @JsonProperty
  public int topicPartitions = 4;

  @Min(1)
  @JsonProperty
  public short replicationFactor = 1;

  @Valid @NotNull @JsonProperty public BatchSettings batching = new BatchSettings();

  /** How the worker forms batches from waiting jobs (see README, "Batching"). */
  public static class BatchSettings {
    /** Most jobs decoded together per lane. */
    @Min(1)
    @JsonProperty
    public int maxBatchSize = 16;

    /** Longest wait for more jobs once one is waiting. */
    @NotNull @JsonProperty public Duration maxWait = Duration.milliseconds(5);

    /**
     * Bound on batch size × (prompt + max_tokens): the KV cache's size in token slots. A
     * 20,000-token job over half of it runs alone.
     */
    @Min(1)
    @JsonProperty
    public long maxBatchTokens = 65_536;
  }

  /** Where the model comes from and where it runs. */
  public static class ModelSettings {
    /** The model directory (see README, "Model directory contract"). */
    @NotEmpty @JsonProperty public String path = "model/tiny-kosmos";

    /** {@code cpu}, or {@code gpu} / {@code gpu:N} with a CUDA libtorch (PLATFORM.md). */
    @NotEmpty
    @Pattern(regexp = "cpu|gpu(:[0-9]+)?")
    @JsonProperty
    public String device = "cpu";

    /** Prompt tokens per prefill call; bounds the attention scratch memory of long prompts. */
    @Min(128)
    @JsonProperty
    public int prefillChunk = 512;
  }
}
