package com.kosmosx.api;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.cfg.CoercionAction;
import com.fasterxml.jackson.databind.cfg.CoercionInputShape;
import com.fasterxml.jackson.databind.type.LogicalType;
import com.kosmosx.api.accounts.AccountService;
import com.kosmosx.api.accounts.KeyService;
import com.kosmosx.api.accounts.Limits;
import com.kosmosx.api.accounts.Passwords;
import com.kosmosx.api.accounts.RateLimiter;
import com.kosmosx.api.auth.ApiKeyAuthenticator;
import com.kosmosx.api.auth.AuthFeature;
import com.kosmosx.api.auth.BasicAuthenticator;
import com.kosmosx.api.auth.ClientAddressFilter;
import com.kosmosx.api.auth.RateLimitHeadersFilter;
import com.kosmosx.api.billing.BillingService;
import com.kosmosx.api.billing.PlanService;
import com.kosmosx.api.billing.RollupSink;
import com.kosmosx.api.errors.ApiProblemMapper;
import com.kosmosx.api.errors.BodyLimitFilter;
import com.kosmosx.api.errors.DatabaseProblemMapper;
import com.kosmosx.api.errors.JsonProblemMapper;
import com.kosmosx.api.errors.ProblemErrorHandler;
import com.kosmosx.api.errors.UnexpectedProblemMapper;
import com.kosmosx.api.errors.WebApplicationProblemMapper;
import com.kosmosx.api.health.KafkaHealthCheck;
import com.kosmosx.api.health.OutboxHealthCheck;
import com.kosmosx.api.jobs.DeadlineSweeper;
import com.kosmosx.api.jobs.ImageNormalizer;
import com.kosmosx.api.jobs.JobEventProjector;
import com.kosmosx.api.jobs.JobService;
import com.kosmosx.api.jobs.JobValidator;
import com.kosmosx.api.jobs.JobViews;
import com.kosmosx.api.jobs.JobWaiters;
import com.kosmosx.api.jobs.Lanes;
import com.kosmosx.api.jobs.PromptTokenizer;
import com.kosmosx.api.jobs.RetentionSweeper;
import com.kosmosx.api.outbox.DeadLetters;
import com.kosmosx.api.outbox.OutboxRelay;
import com.kosmosx.api.quarantine.QuarantineStore;
import com.kosmosx.api.resources.AccountResource;
import com.kosmosx.api.resources.AdminResource;
import com.kosmosx.api.resources.ApiKeyResource;
import com.kosmosx.api.resources.DocsResource;
import com.kosmosx.api.resources.JobResource;
import com.kosmosx.api.resources.PingResource;
import com.kosmosx.api.resources.SeedCompatResource;
import com.kosmosx.api.resources.UsageResource;
import com.kosmosx.api.resources.WebhookSecretResource;
import com.kosmosx.api.streaming.StreamHub;
import com.kosmosx.api.streaming.StreamRelay;
import com.kosmosx.api.webhooks.WebhookDeliveries;
import com.kosmosx.api.webhooks.WebhookUrlPolicy;
import com.kosmosx.contracts.TopicAdmin;
import com.kosmosx.contracts.Topics;
import com.kosmosx.runtime.Backoff;
import com.kosmosx.runtime.KafkaSettings;
import com.kosmosx.runtime.Loop;
import io.dropwizard.configuration.EnvironmentVariableSubstitutor;
import io.dropwizard.configuration.SubstitutingSourceProvider;
import io.dropwizard.core.Application;
import io.dropwizard.core.server.AbstractServerFactory;
import io.dropwizard.core.setup.Bootstrap;
import io.dropwizard.core.setup.Environment;
import io.dropwizard.jdbi3.JdbiFactory;
import io.dropwizard.lifecycle.Managed;
import java.nio.file.Path;
import java.sql.Connection;
import java.time.Clock;
import java.time.Duration;
import java.util.HashMap;
import java.util.Set;
import javax.sql.DataSource;
import liquibase.Liquibase;
import liquibase.database.Database;
import liquibase.database.DatabaseFactory;
import liquibase.database.jvm.JdbcConnection;
import liquibase.resource.ClassLoaderResourceAccessor;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.glassfish.jersey.media.multipart.MultiPartFeature;
import org.glassfish.jersey.server.ServerProperties;
import org.jdbi.v3.core.Jdbi;

/** The public HTTP API: accounts, keys, job submission and polling. */
public class ApiApplication extends Application<ApiConfiguration> {

  public static void main(String[] args) throws Exception {
    new ApiApplication().run(args);
  }

  @Override
  public String getName() {
    return "kosmos-api";
  }

  @Override
  public void initialize(Bootstrap<ApiConfiguration> bootstrap) {
    com.kosmosx.runtime.LogFormat.install(bootstrap);
    bootstrap.setConfigurationSourceProvider(
        new SubstitutingSourceProvider(
            bootstrap.getConfigurationSourceProvider(), new EnvironmentVariableSubstitutor(false)));
    bootstrap.addCommand(new CreateAdminCommand());
  }

  /**
   * The REST mapping: snake_case like the wire, and strict: unknown fields, duplicate keys and type
   * coercions ("5" for 5, 1.5 for an int) are refused instead of silently guessed.
   */
  static void configureMapper(ObjectMapper mapper) {
    mapper.setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE);
    mapper.registerModule(com.kosmosx.api.errors.BorderJson.module());
    mapper.disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS);
    mapper.enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);
    mapper.enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES);
    mapper.disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT);
    mapper.enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);
    mapper.configure(MapperFeature.ALLOW_COERCION_OF_SCALARS, false);
    mapper.coercionConfigDefaults().setCoercion(CoercionInputShape.String, CoercionAction.Fail);
    for (CoercionInputShape shape :
        new CoercionInputShape[] {
          CoercionInputShape.Integer, CoercionInputShape.Float, CoercionInputShape.Boolean
        }) {
      mapper.coercionConfigFor(LogicalType.Textual).setCoercion(shape, CoercionAction.Fail);
    }
    mapper
        .getFactory()
        .setStreamReadConstraints(
            StreamReadConstraints.builder()
                .maxNestingDepth(64)
                // A 20 MB image as base64 in JSON is 26.7 M characters; the job body limit
                // (28 MiB) bounds the rest, and BodyBudget bounds how many are read at once.
                .maxStringLength(28 * 1024 * 1024)
                .maxNumberLength(100)
                .build());
  }

  /** Streamed text an instance keeps for its readers, all jobs together (UTF-16 chars). */
  static final long STREAM_BUFFER_CHARS = 16L * 1024 * 1024;

  @Override
  public void run(ApiConfiguration config, Environment env) throws Exception {
    // Our mappers render every error as problem+json; Dropwizard's defaults would not.
    ((AbstractServerFactory) config.getServerFactory()).setRegisterDefaultExceptionMappers(false);
    // After configuration parsing: the YAML keeps Dropwizard's camelCase names.
    configureMapper(env.getObjectMapper());
    Clock clock = Clock.systemUTC();

    DataSource dataSource = config.database.build(env.metrics(), "postgresql");
    if (config.migrateOnStart) {
      migrate(dataSource);
    }
    Jdbi jdbi = new JdbiFactory().build(env, config.database, "postgresql");

    String bootstrap = config.kafka.bootstrapServers;
    Admin admin = Admin.create(KafkaSettings.admin(bootstrap, "kosmos-api-admin"));
    env.lifecycle().manage(closing(() -> admin.close(Duration.ofSeconds(5))));
    ensureTopics(admin, config);

    QuarantineStore quarantine = new QuarantineStore(jdbi, clock);
    Duration jobDeadline = Duration.ofMillis(config.jobs.deadline.toMilliseconds());
    OutboxRelay relay =
        new OutboxRelay(
            jdbi,
            clock,
            () ->
                new KafkaProducer<>(
                    OutboxRelay.producerConfig(bootstrap, "kosmos-api-outbox"),
                    new StringSerializer(),
                    new ByteArraySerializer()),
            config.outbox.batchSize,
            Duration.ofMillis(config.outbox.pollInterval.toMilliseconds()),
            new Backoff(Duration.ofMillis(100), Duration.ofSeconds(5)),
            config.outbox.maxAttempts,
            Duration.ofMillis(config.outbox.retryAfter.toMilliseconds()),
            quarantine);
    quarantine.register(OutboxRelay.LOOP, (h, e) -> relay.replay(h, e, jobDeadline));
    if (config.outbox.relayEnabled) {
      env.lifecycle().manage(relay);
    }
    PromptTokenizer tokenizer = new PromptTokenizer(Path.of(config.jobs.tokenizer));
    env.lifecycle()
        .manage(
            new Managed() {
              @Override
              public void stop() {
                tokenizer.close();
              }
            });
    Passwords passwords =
        new Passwords(config.auth.bcryptCost, config.rateLimits.concurrentPasswordChecks);
    com.kosmosx.runtime.Metrics.counterFromCallback(
        "kosmos_password_hashes",
        "bcrypt computations (password checks and sets); the sign-in rate limit bounds them",
        cb -> cb.call(passwords.computed()));
    AccountService accounts = new AccountService(jdbi, passwords, clock);
    accounts.ensureBootstrapAdmin(config.auth.bootstrapAdminKey);
    JobViews views = new JobViews(config.prices);
    WebhookUrlPolicy webhookPolicy = new WebhookUrlPolicy(Set.copyOf(config.webhooks.allowedHosts));
    WebhookDeliveries webhooks =
        new WebhookDeliveries(
            jdbi,
            clock,
            views,
            env.getObjectMapper(),
            webhookPolicy,
            new WebhookDeliveries.Settings(
                config.webhooks.retrySchedule.stream()
                    .map(d -> Duration.ofMillis(d.toMilliseconds()))
                    .toList(),
                Duration.ofMillis(config.webhooks.timeout.toMilliseconds()),
                config.webhooks.maxPayloadBytes,
                Duration.ofMillis(config.webhooks.pollInterval.toMilliseconds())),
            quarantine);
    quarantine.register(
        WebhookDeliveries.LOOP,
        (h, e) -> WebhookDeliveries.replay(h, e.source().substring("webhook:".length())));
    if (config.webhooks.deliveryEnabled) {
      env.lifecycle().manage(webhooks);
    }
    JobEventProjector projector =
        new JobEventProjector(
            jdbi,
            () ->
                new KafkaConsumer<>(
                    new HashMap<>(
                        JobEventProjector.consumerConfig(bootstrap, config.kafka.projectionGroup)),
                    new StringDeserializer(),
                    new ByteArrayDeserializer()),
            Loop.Settings.of(Duration.ZERO),
            webhooks,
            quarantine);
    env.lifecycle().manage(projector);
    quarantine.register(JobEventProjector.LOOP, (h, e) -> projector.replay(h, e.payload()));
    RollupSink rollupSink =
        new RollupSink(
            jdbi,
            () ->
                new KafkaConsumer<>(
                    new HashMap<>(
                        RollupSink.consumerConfig(bootstrap, config.kafka.rollupSinkGroup)),
                    new StringDeserializer(),
                    new ByteArrayDeserializer()),
            clock,
            Loop.Settings.of(Duration.ZERO),
            quarantine);
    env.lifecycle().manage(rollupSink);
    quarantine.register(RollupSink.LOOP, (h, e) -> rollupSink.replay(h, e.payload()));
    JobWaiters waiters =
        new JobWaiters(
            () ->
                java.sql.DriverManager.getConnection(
                    config.database.getUrl(),
                    config.database.getUser(),
                    config.database.getPassword()));
    env.lifecycle().manage(waiters);
    // Token deltas for the streams this instance holds, whoever took the job and ran it.
    StreamHub hub =
        new StreamHub(
            () ->
                new KafkaConsumer<>(
                    KafkaSettings.committedReader(bootstrap, null, "kosmos-api-stream", 2000),
                    new StringDeserializer(),
                    new ByteArrayDeserializer()),
            STREAM_BUFFER_CHARS);
    waiters.onEnded(hub::ended);
    env.lifecycle().manage(hub);
    RetentionSweeper retention =
        new RetentionSweeper(
            jdbi,
            clock,
            Duration.ofMillis(config.jobs.retention.toMilliseconds()),
            Duration.ofMillis(config.jobs.retentionSweepInterval.toMilliseconds()));
    env.lifecycle().manage(retention);
    Lanes lanes = new Lanes(jdbi, admin, config.kafka.workerGroup);
    DeadlineSweeper deadlines =
        new DeadlineSweeper(
            jdbi,
            clock,
            Duration.ofMillis(config.jobs.deadlineGrace.toMilliseconds()),
            Duration.ofMillis(config.jobs.deadlineSweepInterval.toMilliseconds()),
            lanes,
            webhooks);
    env.lifecycle().manage(deadlines);
    env.healthChecks().register("lanes", lanes.healthCheck());
    // One liveness check per background loop (admin port /healthcheck, "loop.<name>").
    java.util.List<Loop> loops = new java.util.ArrayList<>();
    if (config.outbox.relayEnabled) {
      loops.add(relay.loop());
    }
    if (config.webhooks.deliveryEnabled) {
      loops.add(webhooks.loop());
    }
    loops.addAll(
        java.util.List.of(
            projector.loop(),
            rollupSink.loop(),
            waiters.loop(),
            hub.loop(),
            retention.loop(),
            deadlines.loop()));
    loops.forEach(l -> env.healthChecks().register("loop." + l.name(), l.healthCheck()));
    java.util.concurrent.ExecutorService waitAnswers =
        env.lifecycle().executorService("job-wait-answers").minThreads(2).maxThreads(8).build();
    JobService jobs =
        new JobService(
            jdbi,
            clock,
            new JobValidator(
                config.jobs.maxContextTokens,
                config.jobs.defaultMaxTokens,
                tokenizer::count,
                new ImageNormalizer(),
                webhookPolicy),
            Duration.ofMillis(config.jobs.deadline.toMilliseconds()),
            views,
            env.getObjectMapper(),
            config.rateLimits.maxUnfinishedJobs,
            relay::wakeUp);
    ApiKeyAuthenticator authenticator =
        new ApiKeyAuthenticator(
            jdbi,
            clock,
            Duration.ofMillis(config.auth.keyCacheTtl.toMilliseconds()),
            Duration.ofMillis(config.auth.lastUsedFlushInterval.toMilliseconds()));
    env.lifecycle().manage(authenticator);
    RateLimiter limiter = new RateLimiter(jdbi, clock);
    env.lifecycle().manage(limiter);
    PlanService plans =
        new PlanService(
            jdbi,
            clock,
            relay::wakeUp,
            lane -> {
              try {
                TopicAdmin.ensureTopics(
                    admin,
                    java.util.List.of(Topics.jobs(lane)),
                    config.kafka.topicPartitions,
                    config.kafka.replicationFactor);
              } catch (Exception e) {
                // The relay retries until the topic exists; the broker may be away right now.
                org.slf4j.LoggerFactory.getLogger(ApiApplication.class)
                    .warn("cannot create the topic of lane {} yet: {}", lane, e.toString());
              }
            });
    // Per-plan submission limits; the plan is looked up at most every 5 s per account.
    com.github.benmanes.caffeine.cache.LoadingCache<String, Boolean> dedicated =
        com.github.benmanes.caffeine.cache.Caffeine.newBuilder()
            .expireAfterWrite(java.time.Duration.ofSeconds(5))
            .maximumSize(100_000)
            .build(plans::dedicatedNow);
    Limits limits =
        new Limits(
            limiter,
            caller ->
                dedicated.get(caller.accountId())
                    ? config.rateLimits.dedicatedJobSubmissionsPerMinute
                    : config.rateLimits.jobSubmissionsPerMinute,
            config.rateLimits.signupsPerAddressPerHour,
            config.rateLimits.failedPasswordsPerAddress);
    BasicAuthenticator basic = new BasicAuthenticator(jdbi, passwords, limits);
    KeyService keys =
        new KeyService(jdbi, clock, authenticator, config.rateLimits.maxLiveKeysPerAccount);

    // Every request runs under a trace id that goes with the jobs it submits (Tracing).
    env.servlets()
        .addFilter("trace", new com.kosmosx.api.observability.TraceFilter())
        .addMappingForUrlPatterns(
            java.util.EnumSet.of(jakarta.servlet.DispatcherType.REQUEST), false, "/*");
    // Large bodies (images) share a heap budget: one full-size upload at a time plus small ones.
    env.servlets()
        .addFilter(
            "body-budget",
            new com.kosmosx.api.errors.BodyBudget(
                config.largeBodyBudgetBytes, 1_048_576, config.maxJobBodyBytes, 30_000))
        .addMappingForUrlPatterns(
            java.util.EnumSet.of(jakarta.servlet.DispatcherType.REQUEST),
            true,
            "/v1/*",
            "/predict");
    var jersey = env.jersey();
    // API.md promises "Location: /v1/jobs/{id}" as written, not an absolute URL.
    jersey.property(ServerProperties.LOCATION_HEADER_RELATIVE_URI_RESOLUTION_DISABLED, true);
    jersey.register(new BodyLimitFilter(config.maxBodyBytes, config.maxJobBodyBytes));
    jersey.register(MultiPartFeature.class);
    jersey.register(ClientAddressFilter.class);
    jersey.register(new AuthFeature(authenticator, basic));
    jersey.register(new RateLimitHeadersFilter(limits));
    jersey.register(new com.kosmosx.api.auth.SubmissionAdmission(limits));
    jersey.register(new ApiProblemMapper());
    jersey.register(new JsonProblemMapper());
    jersey.register(new WebApplicationProblemMapper());
    // Jetty's own refusals (unparseable request lines, broken URIs) are problem+json too.
    env.lifecycle()
        .addServerLifecycleListener(
            server -> {
              ProblemErrorHandler errors = new ProblemErrorHandler();
              server.setErrorHandler(errors);
              server
                  .getDescendants(org.eclipse.jetty.server.handler.ContextHandler.class)
                  .forEach(c -> c.setErrorHandler(errors));
            });
    // Not Dropwizard's JdbiExceptionsBundle: its mappers answer {"code":500,"message":…}.
    jersey.register(new DatabaseProblemMapper());
    jersey.register(new DatabaseProblemMapper.Sql());
    jersey.register(new UnexpectedProblemMapper());
    jersey.register(new AccountResource(accounts, keys, limits));
    jersey.register(new ApiKeyResource(keys));
    jersey.register(new WebhookSecretResource(keys));
    StreamRelay relayToClients =
        new StreamRelay(
            hub, jobs, 1000, 2000, config.openai.maxStreams, config.openai.maxStreamsPerAccount);
    jersey.register(
        new JobResource(
            jobs, limits, env.getObjectMapper(), waiters, webhooks, waitAnswers, relayToClients));
    com.kosmosx.api.openai.OpenAiResource openai =
        new com.kosmosx.api.openai.OpenAiResource(
            jobs,
            waiters,
            relayToClients,
            new com.kosmosx.api.openai.ImageFetcher(
                webhookPolicy, Duration.ofMillis(config.openai.imageFetchTimeout.toMilliseconds())),
            env.getObjectMapper(),
            waitAnswers,
            config.openai.modelId,
            config.jobs.maxContextTokens,
            Duration.ofMillis(config.openai.maxWait.toMilliseconds()));
    jersey.register(openai);
    jersey.register(new com.kosmosx.api.openai.OpenAiResource.Models(openai));
    jersey.register(new com.kosmosx.api.openai.OpenAiResource.Completions(openai));
    jersey.register(new com.kosmosx.api.openai.OpenAiErrorFilter());
    jersey.register(new com.kosmosx.api.errors.RequestIdFilter());
    jersey.register(new com.kosmosx.api.observability.RequestMetricsFilter());
    com.kosmosx.api.observability.ApiMetrics.register(jdbi, lanes, relayToClients);
    env.admin()
        .addServlet("prometheus", com.kosmosx.runtime.Metrics.servlet())
        .addMapping("/metrics");
    jersey.register(new DocsResource());
    jersey.register(new PingResource());
    DeadLetters deadLetters =
        new DeadLetters(
            jdbi,
            () ->
                new KafkaConsumer<>(
                    KafkaSettings.committedReader(
                        bootstrap, DeadLetters.GROUP, "kosmos-api-dlq-replay", 500),
                    new StringDeserializer(),
                    new ByteArrayDeserializer()),
            relay::wakeUp,
            clock,
            jobDeadline);
    BillingService billing = new BillingService(jdbi, config.prices, clock);
    jersey.register(new AdminResource(keys, plans, deadLetters, billing, quarantine));
    jersey.register(new com.kosmosx.api.resources.FinanceResource());
    jersey.register(new UsageResource(billing));
    jersey.register(
        new SeedCompatResource(
            accounts,
            keys,
            basic,
            jobs,
            limits,
            Duration.ofMillis(config.jobs.predictTimeout.toMilliseconds())));

    env.healthChecks().register("kafka", new KafkaHealthCheck(admin, Topics.all()));
    env.healthChecks()
        .register("outbox", new OutboxHealthCheck(relay, config.outbox.unhealthyBacklog));
  }

  private static void ensureTopics(Admin admin, ApiConfiguration config) throws Exception {
    // The default dedicated lane's topic exists from the start, so a worker serving it (the local
    // stack's does) subscribes at once rather than after the first dedicated plan.
    java.util.List<com.kosmosx.contracts.Topic<?, ?>> topics =
        new java.util.ArrayList<>(Topics.all());
    topics.add(Topics.jobs(PlanService.DEFAULT_DEDICATED_LANE));
    TopicAdmin.ensureTopics(
        admin, topics, config.kafka.topicPartitions, config.kafka.replicationFactor);
  }

  public static void migrate(DataSource dataSource) throws Exception {
    try (Connection c = dataSource.getConnection()) {
      Database db =
          DatabaseFactory.getInstance().findCorrectDatabaseImplementation(new JdbcConnection(c));
      try (Liquibase liquibase =
          new Liquibase("migrations.sql", new ClassLoaderResourceAccessor(), db)) {
        liquibase.update("");
      }
    }
  }

  private static Managed closing(Runnable close) {
    return new Managed() {
      @Override
      public void stop() {
        close.run();
      }
    };
  }
}
