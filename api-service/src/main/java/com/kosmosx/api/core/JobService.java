package com.kosmosx.api.core;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.kosmosx.api.api.JobView;
import com.kosmosx.api.api.SubmitJobRequest;
import com.kosmosx.api.auth.Caller;
import com.kosmosx.api.db.JobDao;
import com.kosmosx.api.db.JobRow;
import com.kosmosx.api.db.OutboxDao;
import com.kosmosx.api.errors.ApiProblem;
import com.kosmosx.contracts.BillableUnits;
import com.kosmosx.contracts.JobInput;
import com.kosmosx.contracts.JobRequest;
import com.kosmosx.contracts.JobType;
import com.kosmosx.contracts.Json;
import com.kosmosx.contracts.PriceBook;
import com.kosmosx.contracts.Topic;
import com.kosmosx.contracts.Topics;
import com.kosmosx.contracts.UsageEvent;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.Map;
import org.jdbi.v3.core.Jdbi;

/**
 * The submit and read paths. A job is accepted only once its row and its outbox message are
 * committed in one PostgreSQL transaction, so an accepted job reaches Kafka even if Kafka is down
 * now or this process dies right after answering.
 */
public final class JobService {
  private final Jdbi jdbi;
  private final Clock clock;
  private final JobValidator validator;
  private final Duration deadline;
  private final PriceBook prices;
  private final int maxUnfinishedJobs;
  private final Runnable relayWakeUp;
  private final ObjectMapper wire = Json.mapper();

  public JobService(
      Jdbi jdbi,
      Clock clock,
      JobValidator validator,
      Duration deadline,
      PriceBook prices,
      int maxUnfinishedJobs,
      Runnable relayWakeUp) {
    this.maxUnfinishedJobs = maxUnfinishedJobs;
    this.jdbi = jdbi;
    this.clock = clock;
    this.validator = validator;
    this.deadline = deadline;
    this.prices = prices;
    this.relayWakeUp = relayWakeUp;
  }

  public JobView submit(Caller caller, SubmitJobRequest request) {
    return submit(caller, request, null);
  }

  /**
   * @param upload the image part of a multipart submission, or null
   */
  public JobView submit(Caller caller, SubmitJobRequest request, byte[] upload) {
    JobInput input = validator.validate(request, upload);
    JobType type = input.image() != null ? JobType.IMAGE : JobType.TEXT;
    Map<String, String> metadata = request.metadata();
    // Microseconds: what PostgreSQL keeps, so this answer and a later GET show the same time.
    Instant now = clock.instant().truncatedTo(java.time.temporal.ChronoUnit.MICROS);
    String jobId = Ids.job(clock);
    Topic<String, JobRequest> topic = Topics.JOBS_SHARED;
    JobRequest message =
        new JobRequest(
            jobId, caller.accountId(), type, Topics.SHARED_LANE, input, now, now.plus(deadline));
    byte[] payload = topic.serializeValue(message);
    // The stored echo describes the image (size, format, hash) without keeping its pixels.
    String inputJson = write(echo(input));
    String metadataJson = metadata == null ? null : write(metadata);
    jdbi.useTransaction(
        h -> {
          JobDao dao = h.attach(JobDao.class);
          // One submitter per account at a time past this point, so the cap holds exactly even
          // with concurrent submissions on several instances.
          dao.lockAccount(caller.accountId());
          if (dao.countUnfinished(caller.accountId()) >= maxUnfinishedJobs) {
            throw ApiProblem.tooMany(
                "too_many_pending_jobs",
                "This account has "
                    + maxUnfinishedJobs
                    + " unfinished jobs; wait for some to finish.",
                5);
          }
          dao.insert(
              jobId,
              caller.accountId(),
              type.wire(),
              Topics.SHARED_LANE,
              inputJson,
              metadataJson,
              now);
          h.attach(OutboxDao.class).insert(topic.name(), jobId, payload);
        });
    relayWakeUp.run();
    // Built from what was just written: no read back on the submit path.
    return view(
        new JobRow(
            jobId,
            caller.accountId(),
            type.wire(),
            "queued",
            Topics.SHARED_LANE,
            inputJson,
            null,
            metadataJson,
            null,
            null,
            null,
            null,
            null,
            now.atOffset(java.time.ZoneOffset.UTC),
            null,
            null));
  }

  private static JobInput echo(JobInput in) {
    if (in.image() == null) {
      return in;
    }
    var i = in.image();
    return new JobInput(
        in.prompt(),
        in.maxTokens(),
        in.temperature(),
        in.topP(),
        in.stop(),
        in.seed(),
        new com.kosmosx.contracts.ImageInput(null, i.width(), i.height(), i.format(), i.sha256()),
        in.detectObjects());
  }

  public JobView find(Caller caller, String jobId) {
    if (jobId == null || jobId.length() > 64) {
      throw ApiProblem.notFound("Job " + jobId);
    }
    JobRow row =
        jdbi.withExtension(JobDao.class, dao -> dao.find(jobId, caller.accountId()))
            .orElseThrow(() -> ApiProblem.notFound("Job " + jobId));
    return view(row);
  }

  /**
   * Waits (polling the projection) until the job is terminal or the timeout passes, and returns it
   * as it is then. Used by the synchronous seed route {@code /predict}.
   */
  public JobView awaitTerminal(Caller caller, String jobId, Duration timeout)
      throws InterruptedException {
    long end = System.nanoTime() + timeout.toNanos();
    JobView job = find(caller, jobId);
    while (!terminal(job.status()) && System.nanoTime() < end) {
      Thread.sleep(20);
      job = find(caller, jobId);
    }
    return job;
  }

  private static boolean terminal(String status) {
    return status.equals("succeeded") || status.equals("failed") || status.equals("canceled");
  }

  JobView view(JobRow r) {
    JobView.Usage usage = null;
    if ("succeeded".equals(r.status()) && r.inputTokens() != null) {
      JobType type = JobType.fromWire(r.type());
      var event =
          new UsageEvent(
              r.id(),
              r.accountId(),
              type,
              r.inputTokens(),
              r.outputTokens(),
              r.images() == null ? 0 : r.images(),
              false,
              Instant.EPOCH);
      long billableTokens = BillableUnits.tokens(event);
      long billableImages = BillableUnits.images(event);
      usage =
          new JobView.Usage(
              r.inputTokens(),
              r.outputTokens(),
              billableTokens,
              event.images(),
              billableImages,
              prices.payAsYouGoCost(type, billableTokens, billableImages, false).toPlainString());
    }
    JobView.Error error =
        r.errorCode() == null ? null : new JobView.Error(r.errorCode(), r.errorMessage());
    String self = "/v1/jobs/" + r.id();
    return new JobView(
        r.id(),
        r.type(),
        r.status(),
        utc(r.createdAt()),
        utc(r.startedAt()),
        utc(r.completedAt()),
        read(r.input()),
        read(r.output()),
        usage,
        error,
        read(r.metadata()),
        new JobView.Urls(self, self + "/cancel"));
  }

  private static OffsetDateTime utc(OffsetDateTime t) {
    return t == null ? null : t.withOffsetSameInstant(java.time.ZoneOffset.UTC);
  }

  private String write(Object value) {
    try {
      return wire.writeValueAsString(value);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot serialise job input", e);
    }
  }

  private JsonNode read(String json) {
    if (json == null) {
      return null;
    }
    try {
      return wire.readTree(json);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("corrupt JSON in jobs table", e);
    }
  }
}
