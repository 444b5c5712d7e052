package com.kosmosx.api.jobs;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.kosmosx.api.api.JobView;
import com.kosmosx.api.api.SubmitJobRequest;
import com.kosmosx.api.auth.Caller;
import com.kosmosx.api.db.JobDao;
import com.kosmosx.api.db.JobRow;
import com.kosmosx.api.db.OutboxDao;
import com.kosmosx.api.errors.ApiProblem;
import com.kosmosx.contracts.ImageInput;
import com.kosmosx.contracts.JobControl;
import com.kosmosx.contracts.JobInput;
import com.kosmosx.contracts.JobRequest;
import com.kosmosx.contracts.JobType;
import com.kosmosx.contracts.Topic;
import com.kosmosx.contracts.Topics;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.jdbi.v3.core.Jdbi;

/**
 * The submit, read, list and cancel paths. A job is accepted only once its row and its outbox
 * message are committed in one PostgreSQL transaction, so an accepted job reaches Kafka even if
 * Kafka is down now or this process dies right after answering.
 *
 * <p>Idempotency follows Stripe: the first answer to an {@code Idempotency-Key} is stored with a
 * hash of the request and replayed for 24 h; the same key with a different request is 422. The
 * check runs under the account's submit lock, so concurrent duplicates make one job.
 */
public final class JobService {
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(JobService.class);

  static final Duration IDEMPOTENCY_WINDOW = Duration.ofHours(24);
  static final int MAX_IDEMPOTENCY_KEY_CHARS = 255;
  private static final Set<String> STATUSES =
      Set.of("queued", "running", "succeeded", "failed", "canceled");

  private final Jdbi jdbi;
  private final Clock clock;
  private final JobValidator validator;
  private final Duration deadline;
  private final JobViews views;
  private final ObjectMapper rest;
  private final int maxUnfinishedJobs;
  private final Runnable relayWakeUp;

  /**
   * @param rest the mapper HTTP answers are written with, so a replayed answer is byte-identical
   */
  public JobService(
      Jdbi jdbi,
      Clock clock,
      JobValidator validator,
      Duration deadline,
      JobViews views,
      ObjectMapper rest,
      int maxUnfinishedJobs,
      Runnable relayWakeUp) {
    this.jdbi = jdbi;
    this.clock = clock;
    this.validator = validator;
    this.deadline = deadline;
    this.views = views;
    this.rest = rest;
    this.maxUnfinishedJobs = maxUnfinishedJobs;
    this.relayWakeUp = relayWakeUp;
  }

  /** What a submission answered: the new job, or the stored first answer of an idempotent retry. */
  public record Submitted(String jobId, JobView job, String replayedBody) {
    public boolean replayed() {
      return replayedBody != null;
    }
  }

  /** A page of a listing, newest first. */
  public record JobPage(List<JobView> data, String nextCursor) {}

  public JobView submit(Caller caller, SubmitJobRequest request) {
    return submit(caller, request, null, null).job();
  }

  /**
   * @param upload the image part of a multipart submission, or null
   * @param idempotencyKey the {@code Idempotency-Key} header, or null
   */
  public Submitted submit(
      Caller caller, SubmitJobRequest request, byte[] upload, String idempotencyKey) {
    if (idempotencyKey != null
        && (idempotencyKey.isEmpty()
            || idempotencyKey.length() > MAX_IDEMPOTENCY_KEY_CHARS
            || !idempotencyKey.chars().allMatch(c -> c > 0x20 && c < 0x7f))) {
      throw ApiProblem.validation(
          "Idempotency-Key must be 1 to "
              + MAX_IDEMPOTENCY_KEY_CHARS
              + " printable ASCII characters without spaces.",
          "Idempotency-Key");
    }
    JobInput input = validator.validate(request, upload);
    SubmitJobRequest.Webhook webhook = validator.webhook(request.webhook());
    JobType type = input.image() != null ? JobType.IMAGE : JobType.TEXT;
    Map<String, String> metadata = request.metadata();
    // Microseconds: what PostgreSQL keeps, so this answer and a later GET show the same time.
    Instant now = clock.instant().truncatedTo(ChronoUnit.MICROS);
    String jobId = Ids.job(clock);
    // The request's trace (TraceFilter), or a new one: it travels with the job (Tracing).
    String mdcTrace = org.slf4j.MDC.get(com.kosmosx.runtime.Tracing.TRACE_ID);
    String traceId = mdcTrace != null ? mdcTrace : com.kosmosx.runtime.Tracing.newTraceId();
    JobInput echo = echo(input);
    String inputJson = views.write(echo);
    String metadataJson = metadata == null ? null : views.write(new TreeMap<>(metadata));
    String webhookJson = webhook == null ? null : views.write(webhook);
    byte[] requestHash = idempotencyKey == null ? null : hash(type, echo, metadata, webhook);
    JobView view =
        views.view(
            new JobRow(
                jobId,
                caller.accountId(),
                type.wire(),
                "queued",
                Topics.SHARED_LANE,
                inputJson,
                null,
                metadataJson,
                webhookJson,
                null,
                null,
                null,
                null,
                null,
                now.atOffset(ZoneOffset.UTC),
                null,
                null));
    String response = idempotencyKey == null ? null : json(view);
    String lane =
        laneHints.getOrDefault(caller.accountId() + "/" + type.wire(), Topics.SHARED_LANE);
    Submitted result = null;
    // One call (JobDao.SUBMIT): the account's lock is held only while PostgreSQL runs it, never
    // across a round trip, so one account's concurrent submissions queue for microseconds, not for
    // each other's network and scheduling (./kosmos bench, pipeline figure; docs/perf/lean.md).
    for (int attempt = 0; result == null; attempt++) {
      Topic<String, JobRequest> topic = Topics.jobs(lane);
      JobRequest message =
          new JobRequest(jobId, caller.accountId(), type, lane, input, now, now.plus(deadline));
      String laneNow = lane;
      SubmitAnswer answer =
          jdbi.withHandle(
              h ->
                  h.createQuery(JobDao.SUBMIT)
                      .bind("accountId", caller.accountId())
                      .bind("cap", maxUnfinishedJobs)
                      .bind("product", type.wire())
                      .bind("today", java.time.LocalDate.ofInstant(now, ZoneOffset.UTC))
                      .bind("idemKey", idempotencyKey)
                      .bind("idemSince", now.minus(IDEMPOTENCY_WINDOW))
                      .bind("requestHash", requestHash)
                      .bind("response", response)
                      .bind("id", jobId)
                      .bind("lane", laneNow)
                      .bind("input", inputJson)
                      .bind("metadata", metadataJson)
                      .bind("webhook", webhookJson)
                      .bind("createdAt", now)
                      .bind("deadlineAt", message.deadline())
                      .bind("topic", topic.name())
                      .bind("payload", topic.serializeValue(message))
                      .bind("traceId", traceId)
                      .map(
                          (rs, ctx) ->
                              new SubmitAnswer(
                                  rs.getString(1),
                                  rs.getString(2),
                                  rs.getBytes(3),
                                  rs.getString(4),
                                  rs.getString(5)))
                      .one());
      switch (answer.outcome()) {
        case "accepted" -> result = new Submitted(jobId, view, null);
        case "replay" -> {
          if (!MessageDigest.isEqual(answer.requestHash(), requestHash)) {
            throw new ApiProblem(
                422,
                "idempotency_key_reused",
                "Idempotency key reused",
                "This Idempotency-Key was used with a different request in the last 24"
                    + " hours; use a new key for a new request.",
                Map.of("job_id", answer.jobId()));
          }
          result = new Submitted(answer.jobId(), null, answer.response());
        }
        case "too_many" ->
            throw ApiProblem.tooMany(
                "too_many_pending_jobs",
                "This account has "
                    + maxUnfinishedJobs
                    + " unfinished jobs; wait for some to finish.",
                5);
        case "lane" -> {
          // The account's plan moved it to another lane: build the message for that one.
          if (attempt >= 2) {
            throw new IllegalStateException("the lane of " + caller.accountId() + " keeps moving");
          }
          lane = answer.lane();
          laneHints.put(caller.accountId() + "/" + type.wire(), lane);
        }
        default -> throw new IllegalStateException("kosmos_submit answered " + answer.outcome());
      }
    }
    if (!result.replayed()) {
      relayWakeUp.run();
      try (var scope = com.kosmosx.runtime.Tracing.job(jobId, caller.accountId(), lane, traceId)) {
        LOG.info("job {} accepted ({}, lane {})", jobId, type.wire(), lane);
      }
    }
    return result;
  }

  /** What {@code kosmos_submit} answered (migration 12). */
  private record SubmitAnswer(
      String outcome, String jobId, byte[] requestHash, String response, String lane) {}

  /**
   * The lane each account's last submission went to, by account and product: the message is built
   * for it, and the submit call corrects it (and this) when the plan moved the account. Bounded: it
   * forgets everything past 100,000 entries rather than grow with the account count.
   */
  private final Map<String, String> laneHints =
      java.util.Collections.synchronizedMap(
          new java.util.LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, String> eldest) {
              return size() > 100_000;
            }
          });

  private String json(JobView view) {
    try {
      return rest.writeValueAsString(view);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot serialise job view", e);
    }
  }

  /** What a client sent, canonically: the same request always hashes the same. */
  private byte[] hash(
      JobType type, JobInput echo, Map<String, String> metadata, SubmitJobRequest.Webhook webhook) {
    Map<String, Object> canonical = new LinkedHashMap<>();
    canonical.put("type", type.wire());
    canonical.put("input", echo);
    canonical.put("metadata", metadata == null ? null : new TreeMap<>(metadata));
    canonical.put("webhook", webhook);
    try {
      return MessageDigest.getInstance("SHA-256")
          .digest(views.write(canonical).getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** The stored echo describes the image (size, format, hash) without keeping its pixels. */
  private static JobInput echo(JobInput in) {
    if (in.image() == null) {
      return in;
    }
    ImageInput i = in.image();
    return new JobInput(
        in.prompt(),
        in.maxTokens(),
        in.temperature(),
        in.topP(),
        in.stop(),
        in.seed(),
        new ImageInput(null, i.width(), i.height(), i.format(), i.sha256()),
        in.detectObjects(),
        in.stream(),
        in.ignoreEos());
  }

  public JobView find(Caller caller, String jobId) {
    return view(row(caller, jobId));
  }

  /** The caller's job row (404 for another account's job). */
  /** Whether the caller's job has ended; false if there is no such job. */
  public boolean ended(Caller caller, String jobId) {
    return jdbi.withExtension(JobDao.class, dao -> dao.ended(jobId, caller.accountId()))
        .orElse(false);
  }

  public JobRow rowOf(Caller caller, String jobId) {
    return row(caller, jobId);
  }

  JobRow row(Caller caller, String jobId) {
    if (jobId == null || jobId.length() > 64) {
      throw ApiProblem.notFound("Job " + jobId);
    }
    return jdbi.withExtension(JobDao.class, dao -> dao.find(jobId, caller.accountId()))
        .orElseThrow(() -> ApiProblem.notFound("Job " + jobId));
  }

  public JobView view(JobRow row) {
    return views.view(row);
  }

  /** The account's jobs, newest first; {@code cursor} is the previous page's next_cursor. */
  public JobPage list(Caller caller, String status, String type, Integer limit, String cursor) {
    if (status != null && !STATUSES.contains(status)) {
      throw ApiProblem.validation(
          "Query parameter 'status' is one of queued, running, succeeded, failed, canceled.",
          "status");
    }
    if (type != null && !type.equals("text") && !type.equals("image")) {
      throw ApiProblem.validation("Query parameter 'type' is text or image.", "type");
    }
    int n = limit == null ? 20 : limit;
    if (n < 1 || n > 100) {
      throw ApiProblem.validation("Query parameter 'limit' is between 1 and 100.", "limit");
    }
    String before = null;
    if (cursor != null) {
      try {
        before = new String(Base64.getUrlDecoder().decode(cursor), StandardCharsets.UTF_8);
      } catch (IllegalArgumentException e) {
        before = "";
      }
      if (!before.matches("job_[0-9a-z]{1,60}")) {
        throw ApiProblem.validation(
            "Query parameter 'cursor' is not a cursor this API returned.", "cursor");
      }
    }
    String after = before;
    List<JobRow> rows =
        jdbi.withExtension(
            JobDao.class, dao -> dao.list(caller.accountId(), status, type, after, n + 1));
    List<JobView> data = rows.stream().limit(n).map(views::view).toList();
    String next =
        rows.size() > n
            ? Base64.getUrlEncoder()
                .withoutPadding()
                .encodeToString(rows.get(n - 1).id().getBytes(StandardCharsets.UTF_8))
            : null;
    return new JobPage(data, next);
  }

  /**
   * Asks the workers to cancel a queued or running job: the request goes out through the outbox
   * (durable before the 202), and the worker writes the terminal {@code canceled} state. A job
   * canceled before it started costs nothing; one canceled while it ran is billed for the work done
   * until then, with the per-request minimum ({@code BillableUnits.billed}). A finished job is 409.
   */
  public JobView cancel(Caller caller, String jobId) {
    if (jobId == null || jobId.length() > 64) {
      throw ApiProblem.notFound("Job " + jobId);
    }
    Instant now = clock.instant();
    JobView view =
        jdbi.inTransaction(
            h -> {
              JobDao dao = h.attach(JobDao.class);
              JobRow row =
                  dao.lock(jobId, caller.accountId())
                      .orElseThrow(() -> ApiProblem.notFound("Job " + jobId));
              if (row.terminal()) {
                throw ApiProblem.conflict(
                    "Job "
                        + jobId
                        + " already "
                        + row.status()
                        + "; only queued or running jobs"
                        + " can be canceled.");
              }
              if (dao.markCancelRequested(jobId, now) == 1) {
                h.attach(OutboxDao.class)
                    .insert(
                        Topics.JOB_CONTROL.name(),
                        jobId,
                        Topics.JOB_CONTROL.serializeValue(
                            new JobControl(
                                jobId, caller.accountId(), JobControl.Action.CANCEL, now)));
              }
              return views.view(row);
            });
    relayWakeUp.run();
    return view;
  }

  /**
   * Waits (polling the projection) until the job is terminal or the timeout passes, and returns it
   * as it is then. Used by the synchronous seed route {@code /predict}.
   */
  public JobView awaitTerminal(Caller caller, String jobId, Duration timeout)
      throws InterruptedException {
    long end = System.nanoTime() + timeout.toNanos();
    JobRow row = row(caller, jobId);
    while (!row.terminal() && System.nanoTime() < end) {
      Thread.sleep(20);
      row = row(caller, jobId);
    }
    return views.view(row);
  }
}
