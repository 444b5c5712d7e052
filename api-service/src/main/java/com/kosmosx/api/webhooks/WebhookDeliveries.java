package com.kosmosx.api.webhooks;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.kosmosx.api.api.JobView;
import com.kosmosx.api.db.JobDao;
import com.kosmosx.api.db.JobRow;
import com.kosmosx.api.jobs.JobViews;
import com.kosmosx.runtime.BackgroundLoop;
import com.kosmosx.runtime.Failures;
import com.kosmosx.runtime.Loop;
import com.kosmosx.runtime.Quarantine;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.Jdbi;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Webhook deliveries (Standard Webhooks), persisted so restarts neither lose nor repeat them beyond
 * at-least-once.
 *
 * <p>An event's delivery row is written in the same transaction as the job update that caused it,
 * keyed by its webhook-id ({@code msg_<job id>_<event>}), so a replayed job event never makes a
 * second one. Any API instance delivers: due rows are claimed with {@code FOR UPDATE SKIP LOCKED}
 * and a lease, sent outside any transaction (15 s timeout, no redirects, the URL's addresses
 * re-checked against SSRF right before), and the attempt is recorded. 2xx ends it, 410 stops it,
 * anything else retries on the schedule (Svix's by default) with ±10 % jitter. A crash between
 * claim and record resends after the lease with the same webhook-id.
 */
public final class WebhookDeliveries extends BackgroundLoop {
  public static final String LOOP = "webhook-deliveries";
  private static final Logger LOG = LoggerFactory.getLogger(WebhookDeliveries.class);
  static final Duration LEASE = Duration.ofSeconds(60);

  /** Attempts in flight at once on this instance. */
  static final int MAX_IN_FLIGHT = 64;

  /** Attempts in flight at once for one account: its slow receiver cannot take every slot. */
  static final int PER_ACCOUNT_IN_FLIGHT = 4;

  /** Settings. */
  public record Settings(
      List<Duration> retrySchedule, Duration timeout, int maxPayloadBytes, Duration pollInterval) {}

  private final Jdbi jdbi;
  private final Clock clock;
  private final JobViews views;
  private final ObjectMapper rest;
  private final WebhookUrlPolicy policy;
  private final Settings settings;
  private final HttpClient http;
  private final Semaphore wake = new Semaphore(0);
  private final Semaphore slots = new Semaphore(MAX_IN_FLIGHT);
  private final Map<String, Integer> inFlight = new java.util.concurrent.ConcurrentHashMap<>();
  private final Quarantine quarantine;

  public WebhookDeliveries(
      Jdbi jdbi,
      Clock clock,
      JobViews views,
      ObjectMapper rest,
      WebhookUrlPolicy policy,
      Settings settings,
      Quarantine quarantine) {
    super(LOOP, Loop.Settings.of(Duration.ZERO));
    this.quarantine = quarantine;
    this.jdbi = jdbi;
    this.clock = clock;
    this.views = views;
    this.rest = rest;
    this.policy = policy;
    this.settings = settings;
    this.http =
        HttpClient.newBuilder()
            .connectTimeout(settings.timeout())
            .followRedirects(HttpClient.Redirect.NEVER)
            .build();
  }

  /**
   * Records the event's delivery if the job asked for it; call inside the transaction that updated
   * the job. {@code event} is {@code started} or {@code completed}.
   */
  public void enqueue(Handle h, String jobId, String event) {
    // Most jobs have no webhook: look at that column alone before reading and mapping the whole
    // row (the full read was a tenth of the API's CPU per job in ./kosmos bench's pipeline).
    boolean hasWebhook =
        h.createQuery("SELECT webhook IS NOT NULL FROM jobs WHERE id = :id")
            .bind("id", jobId)
            .mapTo(Boolean.class)
            .findOne()
            .orElse(false);
    if (!hasWebhook) {
      return;
    }
    JobRow row = h.attach(JobDao.class).findById(jobId).orElse(null);
    if (row == null || row.webhook() == null) {
      return;
    }
    Map<?, ?> webhook;
    try {
      webhook = rest.readValue(row.webhook(), Map.class);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("corrupt webhook of " + jobId, e);
    }
    if (!(webhook.get("events") instanceof List<?> events) || !events.contains(event)) {
      return;
    }
    Instant now = clock.instant();
    byte[] payload = payload(views.view(row), event, now);
    int inserted =
        h.createUpdate(
                "INSERT INTO webhook_deliveries (id, job_id, account_id, event, url, payload, "
                    + "status, next_attempt_at, created_at) VALUES (:id, :jobId, :accountId, "
                    + ":event, :url, :payload, 'pending', :now, :now) ON CONFLICT (id) DO NOTHING")
            .bind("id", webhookId(jobId, event))
            .bind("jobId", jobId)
            .bind("accountId", row.accountId())
            .bind("event", event)
            .bind("url", String.valueOf(webhook.get("url")))
            .bind("payload", payload)
            .bind("now", now)
            .execute();
    if (inserted > 0) {
      // After the commit: woken before it, the loop would look, not see the row yet, and sleep a
      // whole poll interval.
      if (h.isInTransaction()) {
        h.afterCommit(wake::release);
      } else {
        wake.release();
      }
    }
  }

  static String webhookId(String jobId, String event) {
    return "msg_" + jobId + "_" + event;
  }

  /** {@code {type, timestamp, data: job}}; a job too large for the bound is sent without output. */
  byte[] payload(JobView job, String event, Instant at) {
    try {
      Map<String, Object> body = new LinkedHashMap<>();
      body.put("type", "job." + event);
      body.put("timestamp", at.toString());
      body.put("data", job);
      byte[] bytes = rest.writeValueAsBytes(body);
      if (bytes.length > settings.maxPayloadBytes()) {
        body.put(
            "data",
            new JobView(
                job.id(),
                job.type(),
                job.status(),
                job.createdAt(),
                job.startedAt(),
                job.completedAt(),
                null,
                null,
                job.usage(),
                job.error(),
                job.metadata(),
                job.webhook(),
                job.urls()));
        body.put("data_truncated", true);
        bytes = rest.writeValueAsBytes(body);
      }
      return bytes;
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot serialise webhook payload", e);
    }
  }

  /** The delivery log of a job: every attempt of every event, oldest first. */
  public List<Map<String, Object>> attempts(String jobId) {
    return jdbi.withHandle(
        h ->
            h.createQuery(
                    "SELECT d.id, d.event, d.status, a.attempt, a.at, a.status_code, a.error, "
                        + "a.duration_ms FROM webhook_deliveries d JOIN webhook_attempts a "
                        + "ON a.delivery_id = d.id WHERE d.job_id = :jobId "
                        + "ORDER BY a.at, a.attempt")
                .bind("jobId", jobId)
                .map(
                    (rs, ctx) -> {
                      Map<String, Object> m = new LinkedHashMap<>();
                      m.put("webhook_id", rs.getString("id"));
                      m.put("event", rs.getString("event"));
                      m.put("attempt", rs.getInt("attempt"));
                      m.put("at", rs.getObject("at", OffsetDateTime.class).toInstant().toString());
                      int code = rs.getInt("status_code");
                      m.put("status_code", rs.wasNull() ? null : code);
                      m.put("error", rs.getString("error"));
                      m.put("duration_ms", rs.getInt("duration_ms"));
                      m.put("delivery_status", rs.getString("status"));
                      return m;
                    })
                .list());
  }

  /** One round: start what is due, or wait for a free slot, a new delivery or the poll interval. */
  @Override
  public boolean round() throws InterruptedException {
    if (deliverDue() == 0) {
      wake.tryAcquire(settings.pollInterval().toMillis(), TimeUnit.MILLISECONDS);
      wake.drainPermits();
    }
    return true;
  }

  @Override
  public void interrupt() {
    wake.release();
  }

  /** Attempts by what they led to: delivered, gone (410), pending (a retry is due), failed. */
  private static final io.prometheus.metrics.core.metrics.Counter ATTEMPTS =
      com.kosmosx.runtime.Metrics.counter(
          "kosmos_webhook_attempts_total",
          "Webhook delivery attempts by outcome (delivered, gone, pending = will retry, failed)",
          "outcome");

  static {
    for (String outcome : List.of("delivered", "gone", "pending", "failed")) {
      ATTEMPTS.initLabelValues(outcome);
    }
  }

  private static final io.prometheus.metrics.core.metrics.Histogram ATTEMPT_SECONDS =
      com.kosmosx.runtime.Metrics.histogram(
          "kosmos_webhook_attempt_duration_seconds",
          "One webhook attempt, connect to status line",
          com.kosmosx.runtime.Metrics.LATENCY_BUCKETS);

  /** From the event (the job's end) to the receiver's 2xx, retries included. */
  private static final io.prometheus.metrics.core.metrics.Histogram DELIVERY_SECONDS =
      com.kosmosx.runtime.Metrics.histogram(
          "kosmos_webhook_delivery_latency_seconds",
          "From a webhook event to its delivery (2xx), retries included",
          com.kosmosx.runtime.Metrics.LATENCY_BUCKETS);

  private record Claimed(
      String id,
      String jobId,
      String accountId,
      String event,
      String url,
      byte[] payload,
      int attempts,
      Instant createdAt) {}

  /**
   * Claims as many due deliveries as there are free sending slots (at most {@link
   * #PER_ACCOUNT_IN_FLIGHT} per account, none of an account already at that cap) and starts them;
   * it never waits for a send. Each attempt ends within the timeout, connect, headers and all (the
   * body is never read: the status decides), and frees its slot when it is recorded, so a receiver
   * that stalls holds one slot for one timeout and delays nobody else's delivery.
   *
   * @return how many were started
   */
  int deliverDue() throws InterruptedException {
    if (!slots.tryAcquire(settings.pollInterval().toMillis(), TimeUnit.MILLISECONDS)) {
      return 0; // every slot busy: wait for one rather than spin
    }
    int free = 1 + slots.drainPermits();
    Instant now = clock.instant();
    List<Claimed> due;
    try {
      String[] busy =
          inFlight.entrySet().stream()
              .filter(e -> e.getValue() >= PER_ACCOUNT_IN_FLIGHT)
              .map(Map.Entry::getKey)
              .toArray(String[]::new);
      due =
          jdbi.inTransaction(
              h ->
                  h.createQuery(
                          "UPDATE webhook_deliveries SET next_attempt_at = :lease WHERE id IN ("
                              + "SELECT id FROM webhook_deliveries WHERE id IN (SELECT id FROM"
                              + " (SELECT id, row_number() OVER (PARTITION BY account_id ORDER BY"
                              + " next_attempt_at) AS rn, next_attempt_at FROM webhook_deliveries"
                              + " WHERE status = 'pending' AND next_attempt_at <= :now"
                              + " AND account_id <> ALL(:busy)) d WHERE rn <= :perAccount"
                              + " ORDER BY next_attempt_at LIMIT :limit)"
                              + " FOR UPDATE SKIP LOCKED) RETURNING id, job_id, account_id, event,"
                              + " url, payload, attempts, created_at")
                      .bind("lease", now.plus(LEASE))
                      .bind("now", now)
                      .bind("busy", busy)
                      .bind("perAccount", PER_ACCOUNT_IN_FLIGHT)
                      .bind("limit", free)
                      .map(
                          (rs, ctx) ->
                              new Claimed(
                                  rs.getString("id"),
                                  rs.getString("job_id"),
                                  rs.getString("account_id"),
                                  rs.getString("event"),
                                  rs.getString("url"),
                                  rs.getBytes("payload"),
                                  rs.getInt("attempts"),
                                  rs.getTimestamp("created_at").toInstant()))
                      .list());
    } catch (RuntimeException e) {
      slots.release(free);
      throw e;
    }
    slots.release(free - due.size());
    for (Claimed c : due) {
      inFlight.merge(c.accountId(), 1, Integer::sum);
      CompletableFuture<Void> sent;
      try {
        sent = send(c);
      } catch (RuntimeException e) {
        // Whatever this one row holds (a secret that does not decode, a URL that no longer
        // parses), it is set aside with its reason and ended; the rest of the round goes on.
        sent = CompletableFuture.completedFuture(null);
        safeQuarantine(c, e);
        finalFailure(c, c.attempts() + 1, "refused: " + e, System.nanoTime());
      }
      sent.whenComplete(
          (v, e) -> {
            inFlight.computeIfPresent(c.accountId(), (k, n) -> n == 1 ? null : n - 1);
            slots.release();
            if (e == null) {
              wake.release(); // a slot is free: claim the next one now
            }
          });
    }
    return due.size();
  }

  private CompletableFuture<Void> send(Claimed c) {
    int attempt = c.attempts() + 1;
    long t0 = System.nanoTime();
    String secret =
        jdbi.withHandle(
            h ->
                h.createQuery(
                        "SELECT webhook_secret FROM accounts WHERE id = :id AND deleted_at IS NULL")
                    .bind("id", c.accountId())
                    .mapTo(String.class)
                    .findOne()
                    .orElse(null));
    if (secret == null || secret.isBlank()) {
      // It can never be sent: set aside (listed for an operator), ended without retries.
      quarantine.put(
          new Quarantine.Poison(
              LOOP, "webhook:" + c.id(), null, c.jobId(), "the account is closed", new byte[0]));
      finalFailure(c, attempt, "refused: the account is closed", t0);
      return CompletableFuture.completedFuture(null);
    }
    URI uri;
    try {
      uri = policy.check(c.url());
    } catch (RuntimeException e) {
      safeRecord(c, attempt, null, "refused: " + e.getMessage(), t0);
      return CompletableFuture.completedFuture(null);
    }
    long timestamp = clock.instant().getEpochSecond();
    HttpRequest request =
        HttpRequest.newBuilder(uri)
            .timeout(settings.timeout())
            .header("Content-Type", "application/json")
            .header("User-Agent", "KosmosX-Webhooks/1")
            .header("webhook-id", c.id())
            .header("webhook-timestamp", String.valueOf(timestamp))
            .header("webhook-signature", sign(secret, c.id(), timestamp, c.payload()))
            .POST(HttpRequest.BodyPublishers.ofByteArray(c.payload()))
            .build();
    CompletableFuture<HttpResponse<Void>> exchange = http.sendAsync(request, STATUS_ONLY);
    return exchange
        // One deadline for the whole attempt: connecting, sending, and the status line.
        .orTimeout(settings.timeout().toMillis(), TimeUnit.MILLISECONDS)
        .handle(
            (response, error) -> {
              if (error != null) {
                exchange.cancel(true); // closes the connection of a receiver that stalls
                Throwable cause = error instanceof CompletionException ? error.getCause() : error;
                if (cause == null) {
                  cause = error;
                }
                String what =
                    cause instanceof java.util.concurrent.TimeoutException
                        ? "timeout: no answer within " + settings.timeout().toMillis() + " ms"
                        : cause.getClass().getSimpleName() + ": " + cause.getMessage();
                safeRecord(c, attempt, null, what, t0);
              } else {
                safeRecord(c, attempt, response.statusCode(), null, t0);
              }
              return null;
            });
  }

  /**
   * Reads the status line and headers only: the receiver's body means nothing to us, and a receiver
   * that announces a body and never sends it must not hold the attempt open.
   */
  private static final HttpResponse.BodyHandler<Void> STATUS_ONLY =
      info ->
          new HttpResponse.BodySubscriber<>() {
            private final CompletableFuture<Void> done = CompletableFuture.completedFuture(null);

            @Override
            public java.util.concurrent.CompletionStage<Void> getBody() {
              return done;
            }

            @Override
            public void onSubscribe(java.util.concurrent.Flow.Subscription subscription) {
              subscription.cancel();
            }

            @Override
            public void onNext(List<java.nio.ByteBuffer> item) {}

            @Override
            public void onError(Throwable throwable) {}

            @Override
            public void onComplete() {}
          };

  private void safeRecord(Claimed c, int attempt, Integer statusCode, String error, long t0) {
    try {
      record(c, attempt, statusCode, error, t0, false);
    } catch (RuntimeException e) {
      // The lease runs out and the delivery is tried again: at least once, never lost.
      LOG.warn("could not record webhook {} attempt {}: {}", c.id(), attempt, e.toString());
    }
  }

  private void safeQuarantine(Claimed c, RuntimeException e) {
    try {
      quarantine.put(
          new Quarantine.Poison(
              LOOP, "webhook:" + c.id(), null, c.jobId(), Failures.describe(e), new byte[0]));
    } catch (RuntimeException ex) {
      LOG.warn("could not quarantine webhook {}: {}", c.id(), ex.toString());
    }
  }

  /** Takes a quarantined delivery back: due now, with its attempts so far. */
  public static void replay(Handle h, String webhookId) {
    h.createUpdate(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now()"
                + " WHERE id = :id AND status = 'failed'")
        .bind("id", webhookId)
        .execute();
  }

  /** Ends a delivery that can never succeed (its account is closed) without retries. */
  private void finalFailure(Claimed c, int attempt, String error, long t0) {
    try {
      record(c, attempt, null, error, t0, true);
    } catch (RuntimeException e) {
      LOG.warn("could not record webhook {} attempt {}: {}", c.id(), attempt, e.toString());
    }
  }

  /** Standard Webhooks: {@code v1,} + base64 HMAC-SHA256 of {@code id.timestamp.body}. */
  public static String sign(String secret, String id, long timestamp, byte[] body) {
    String key = secret.startsWith("whsec_") ? secret.substring(6) : secret;
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(Base64.getDecoder().decode(key), "HmacSHA256"));
      mac.update((id + "." + timestamp + ".").getBytes(StandardCharsets.UTF_8));
      return "v1," + Base64.getEncoder().encodeToString(mac.doFinal(body));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  private void record(
      Claimed c, int attempt, Integer statusCode, String error, long t0, boolean giveUp) {
    int ms = (int) ((System.nanoTime() - t0) / 1_000_000);
    Instant now = clock.instant();
    String status;
    Instant next = null;
    if (statusCode != null && statusCode >= 200 && statusCode < 300) {
      status = "delivered";
    } else if (statusCode != null && statusCode == 410) {
      status = "gone";
    } else if (giveUp || attempt > settings.retrySchedule().size()) {
      status = "failed";
    } else {
      status = "pending";
      Duration base = settings.retrySchedule().get(attempt - 1);
      double jitter = 0.9 + 0.2 * ThreadLocalRandom.current().nextDouble();
      next = now.plusMillis((long) (base.toMillis() * jitter));
    }
    String finalStatus = status;
    Instant nextAt = next;
    String err = error == null ? null : error.length() > 500 ? error.substring(0, 500) : error;
    jdbi.useTransaction(
        h -> {
          h.createUpdate(
                  "INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, error, "
                      + "duration_ms) VALUES (:id, :attempt, :at, :code, :error, :ms) "
                      + "ON CONFLICT DO NOTHING")
              .bind("id", c.id())
              .bind("attempt", attempt)
              .bind("at", now)
              .bind("code", statusCode)
              .bind("error", err)
              .bind("ms", ms)
              .execute();
          h.createUpdate(
                  "UPDATE webhook_deliveries SET status = :status, attempts = :attempt, "
                      + "next_attempt_at = :next WHERE id = :id")
              .bind("status", finalStatus)
              .bind("attempt", attempt)
              .bind("next", nextAt)
              .bind("id", c.id())
              .execute();
        });
    ATTEMPTS.labelValues(status).inc();
    ATTEMPT_SECONDS.observe((System.nanoTime() - t0) / 1e9);
    if ("delivered".equals(status)) {
      DELIVERY_SECONDS.observe(Math.max(0, Duration.between(c.createdAt(), now).toNanos()) / 1e9);
    }
    if (!"delivered".equals(status)) {
      LOG.info(
          "webhook {} attempt {} for job {}: {} -> {}",
          c.id(),
          attempt,
          c.jobId(),
          statusCode != null ? statusCode : err,
          status);
    }
  }
}
