package com.kosmosx.api;

import com.fasterxml.jackson.annotation.JsonProperty;
import io.dropwizard.core.Configuration;
import io.dropwizard.db.DataSourceFactory;
import io.dropwizard.util.Duration;
import jakarta.validation.Valid;
import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotEmpty;
import jakarta.validation.constraints.NotNull;

/** api-service configuration; every knob has a default that works for the local stack. */
public class ApiConfiguration extends Configuration {

  @Valid @NotNull @JsonProperty public DataSourceFactory database = new DataSourceFactory();

  @Valid @NotNull @JsonProperty public KafkaSettings kafka = new KafkaSettings();

  @Valid @NotNull @JsonProperty public OutboxSettings outbox = new OutboxSettings();

  @Valid @NotNull @JsonProperty public JobSettings jobs = new JobSettings();

  @Valid @NotNull @JsonProperty public AuthSettings auth = new AuthSettings();

  @Valid @NotNull @JsonProperty public OpenAiSettings openai = new OpenAiSettings();

  /** The OpenAI-compatible routes ({@code /v1/models}, chat and completions). */
  public static class OpenAiSettings {
    /** The model id clients name in {@code model} and {@code GET /v1/models} lists. */
    @NotEmpty @JsonProperty public String modelId = "kosmos-2";

    /** How long a non-streaming request waits for its job before answering 504 with its id. */
    @NotNull @JsonProperty public Duration maxWait = Duration.minutes(10);

    /**
     * Streams (OpenAI {@code stream: true} and {@code GET /v1/jobs/{id}/events}) one instance holds
     * at most, all accounts together; each holds a thread. Past it: 429 too_many_streams.
     */
    @Min(1)
    @JsonProperty
    public int maxStreams = 2000;

    /** Streams of one account one instance holds at most (the unfinished-jobs cap by default). */
    @Min(1)
    @JsonProperty
    public int maxStreamsPerAccount = 100;

    /** Connect, answer and whole-body limit for fetching an http(s) {@code image_url}. */
    @NotNull @JsonProperty public Duration imageFetchTimeout = Duration.seconds(10);
  }

  /** Apply database migrations at start-up (safe with several instances: Liquibase locks). */
  @JsonProperty public boolean migrateOnStart = true;

  /** Largest request body accepted; larger ones get 413 before they are read. */
  @Min(1024)
  @JsonProperty
  public long maxBodyBytes = 1_048_576;

  /**
   * Body limit of {@code POST /v1/jobs}, which carries images: a 20 MB image as base64 in JSON (4/3
   * of it) plus the rest of the request. The image itself is then held to 20 MB decoded.
   */
  @Min(1)
  @JsonProperty
  public long maxJobBodyBytes = 28 * 1_048_576L;

  /**
   * Declared bytes of bodies over 1 MiB handled at once (see BodyBudget): one body at the job limit
   * at a time, about 100 MB of heap while it is parsed; the rest wait their turn.
   */
  @Min(1_048_576)
  @JsonProperty
  public long largeBodyBudgetBytes = 32 * 1_048_576L;

  /** Kafka connection and topic creation. */
  public static class KafkaSettings {
    @NotEmpty @JsonProperty public String bootstrapServers = "localhost:9092";

    @Min(1)
    @JsonProperty
    public int topicPartitions = 4;

    @Min(1)
    @JsonProperty
    public short replicationFactor = 1;

    @NotEmpty @JsonProperty public String projectionGroup = "kosmos-api.job-projection";

    /** Consumer group of the usage-rollups sink into PostgreSQL. */
    @NotEmpty @JsonProperty public String rollupSinkGroup = "kosmos-api.rollup-sink";

    /**
     * The workers' consumer group prefix ({@code <prefix>.<lane>}): a lane is served by members.
     */
    @NotEmpty @JsonProperty public String workerGroup = "kosmos-workers";
  }

  /** The transactional outbox relay. */
  public static class OutboxSettings {
    /** Off only in tests that simulate an instance dying before its relay ran. */
    @JsonProperty public boolean relayEnabled = true;

    @Min(1)
    @Max(10_000)
    @JsonProperty
    public int batchSize = 500;

    /**
     * How often the relay looks without being woken. A submission wakes its own instance's relay
     * after its commit, so this only covers rows retried later and rows another instance left (it
     * died before relaying them): once a second, not five times, when idle.
     */
    @NotNull @JsonProperty public Duration pollInterval = Duration.seconds(1);

    @Min(1)
    @JsonProperty
    public long unhealthyBacklog = 100_000;

    /**
     * Attempts of a row Kafka refuses while it takes others (a lane topic that does not exist),
     * each after its own backoff, before the row is quarantined and its job ends {@code
     * undeliverable}; other rows flow meanwhile.
     */
    @Min(1)
    @Max(100)
    @JsonProperty
    public int maxAttempts = 5;

    /** The first wait before a refused row is tried again (it doubles, up to a minute). */
    @NotNull @JsonProperty public Duration retryAfter = Duration.seconds(1);
  }

  @Valid @NotNull @JsonProperty public RateLimitSettings rateLimits = new RateLimitSettings();

  @Valid @NotNull @JsonProperty public WebhookSettings webhooks = new WebhookSettings();

  /** The price list for invoices (the seed's by default); metering must be given the same one. */
  @NotNull @JsonProperty
  public com.kosmosx.contracts.PriceList prices = com.kosmosx.contracts.PriceList.SEED;

  /** Webhook deliveries (Standard Webhooks). */
  public static class WebhookSettings {
    /** Delay before each retry after a failed attempt (Svix's schedule by default). */
    @NotEmpty @JsonProperty
    public java.util.List<Duration> retrySchedule =
        java.util.List.of(
            Duration.seconds(5),
            Duration.minutes(5),
            Duration.minutes(30),
            Duration.hours(2),
            Duration.hours(5),
            Duration.hours(10),
            Duration.hours(10));

    @NotNull @JsonProperty public Duration timeout = Duration.seconds(15);

    /** A payload over this is sent without the job's input and output (GET the job for them). */
    @Min(1024)
    @JsonProperty
    public int maxPayloadBytes = 256 * 1024;

    /**
     * Hosts exempt from the SSRF check (loopback, private, link-local addresses are refused
     * otherwise): for local development and tests only, e.g. [localhost, 127.0.0.1].
     */
    @NotNull @JsonProperty public java.util.List<String> allowedHosts = java.util.List.of();

    /**
     * How often the sender looks for due deliveries without being woken. A new delivery wakes it
     * after the projection's commit, so this covers retries that fall due and rows of other
     * instances.
     */
    @NotNull @JsonProperty public Duration pollInterval = Duration.seconds(1);

    /** Whether this instance sends deliveries (every instance may; rows are claimed). */
    @JsonProperty public boolean deliveryEnabled = true;
  }

  /** Limits shared by all instances (PostgreSQL counters). */
  public static class RateLimitSettings {
    /** Job submissions per API key per minute (API.md default: 60). */
    @Min(1)
    @JsonProperty
    public int jobSubmissionsPerMinute = 60;

    /** The same limit for the keys of accounts with a dedicated plan in force. */
    @Min(1)
    @JsonProperty
    public int dedicatedJobSubmissionsPerMinute = 600;

    /** Unfinished (queued or running) jobs per account; more is 429 too_many_pending_jobs. */
    @Min(1)
    @JsonProperty
    public int maxUnfinishedJobs = 100;

    /** Account sign-ups per client address per hour. */
    @Min(1)
    @JsonProperty
    public int signupsPerAddressPerHour = 20;

    /** Failed password checks per client address per 15 minutes before 429. */
    @Min(1)
    @JsonProperty
    public int failedPasswordsPerAddress = 20;

    /** API keys an account may hold that work or will; more is 409 (rotation is exempt). */
    @Min(1)
    @JsonProperty
    public int maxLiveKeysPerAccount = 20;

    /**
     * Password hashes computed at once (bcrypt is ~100 ms of one core each): a burst of sign-ins
     * waits its turn instead of taking every core from the rest of the API.
     */
    @Min(1)
    @JsonProperty
    public int concurrentPasswordChecks =
        Math.max(1, Runtime.getRuntime().availableProcessors() / 2);
  }

  /** Job limits. */
  public static class JobSettings {
    /** Prompt tokens plus max_tokens may not exceed this (API.md: 20,000). */
    @Min(1)
    @JsonProperty
    public int maxContextTokens = 20_000;

    @Min(1)
    @JsonProperty
    public int defaultMaxTokens = 256;

    /** Job inputs, outputs and metadata are erased this long after the job ended. */
    @NotNull @JsonProperty public Duration retention = Duration.days(7);

    @NotNull @JsonProperty public Duration retentionSweepInterval = Duration.hours(1);

    /** The model's tokenizer.json: prompts are counted with it at submit time. */
    @NotEmpty @JsonProperty public String tokenizer = "model/tiny-kosmos/tokenizer.json";

    /** How long the synchronous seed route {@code POST /predict} waits for its job. */
    @NotNull @JsonProperty public Duration predictTimeout = Duration.seconds(60);

    /** A job that has not started by then ends failed/expired, unbilled. */
    @NotNull @JsonProperty public Duration deadline = Duration.hours(1);

    /**
     * How long after its deadline a job still queued is ended {@code expired} by the API (a worker
     * that reaches it first ends it itself); covers the projection's lag of a started job.
     */
    @NotNull @JsonProperty public Duration deadlineGrace = Duration.minutes(2);

    /** How often queued jobs are checked against their deadline. */
    @NotNull @JsonProperty public Duration deadlineSweepInterval = Duration.seconds(10);
  }

  /** Credentials. */
  public static class AuthSettings {
    /** bcrypt work factor; 12 costs ~250 ms per hash on one core. */
    @Min(4)
    @Max(31)
    @JsonProperty
    public int bcryptCost = 12;

    /**
     * How long a key lookup is cached; bounds how late a revocation made on another instance takes
     * effect (entries are refreshed in the background at half this age).
     */
    @NotNull @JsonProperty public Duration keyCacheTtl = Duration.milliseconds(500);

    /** How often the last use of keys is written (one batch, instead of a write per request). */
    @NotNull @JsonProperty public Duration lastUsedFlushInterval = Duration.seconds(5);

    /** If set, an admin account authenticated by exactly this key exists. */
    @JsonProperty public String bootstrapAdminKey = "";
  }
}
