package com.kosmosx.api.resources;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.kosmosx.api.accounts.Limits;
import com.kosmosx.api.api.JobView;
import com.kosmosx.api.api.SubmitJobRequest;
import com.kosmosx.api.auth.AdmitsSubmission;
import com.kosmosx.api.auth.Authenticated;
import com.kosmosx.api.auth.Caller;
import com.kosmosx.api.db.JobRow;
import com.kosmosx.api.errors.ApiProblem;
import com.kosmosx.api.jobs.ImageNormalizer;
import com.kosmosx.api.jobs.JobService;
import com.kosmosx.api.jobs.JobWaiters;
import com.kosmosx.api.streaming.Sse;
import com.kosmosx.api.streaming.StreamRelay;
import com.kosmosx.api.webhooks.WebhookDeliveries;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.HeaderParam;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.QueryParam;
import jakarta.ws.rs.container.AsyncResponse;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.container.Suspended;
import jakarta.ws.rs.core.Context;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.core.SecurityContext;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.Executor;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.glassfish.jersey.media.multipart.FormDataBodyPart;
import org.glassfish.jersey.media.multipart.FormDataMultiPart;

/**
 * Submit, poll, list and cancel jobs. A job of another account is 404, never 403.
 *
 * <p>{@code Prefer: wait[=N]} (N ≤ 60, default 60) suspends the request without holding a thread:
 * it is resumed when the job's end is announced ({@link JobWaiters}) or when N seconds pass, with
 * 200 and the finished job or 202 and the job as it is then.
 */
@Path("/v1/jobs")
@Authenticated(Authenticated.Scheme.API_KEY)
@Produces(MediaType.APPLICATION_JSON)
public final class JobResource {
  static final int MAX_WAIT_SECONDS = 60;
  private static final Pattern WAIT =
      Pattern.compile("(?:^|[,;\\s])wait(?:\\s*=\\s*\"?(\\d{1,9})\"?)?(?=$|[,;\\s])");

  private final JobService jobs;
  private final Limits limits;
  private final ObjectMapper mapper;
  private final JobWaiters waiters;
  private final WebhookDeliveries deliveries;
  private final Executor executor;
  private final StreamRelay relay;

  /**
   * @param mapper the strict REST mapper, for the JSON part of a multipart submission
   * @param executor runs the answers of waiting requests (never the listener's thread)
   * @param relay streams a job's events ({@code GET /v1/jobs/{id}/events})
   */
  public JobResource(
      JobService jobs,
      Limits limits,
      ObjectMapper mapper,
      JobWaiters waiters,
      WebhookDeliveries deliveries,
      Executor executor,
      StreamRelay relay) {
    this.relay = relay;
    this.jobs = jobs;
    this.limits = limits;
    this.mapper = mapper;
    this.waiters = waiters;
    this.deliveries = deliveries;
    this.executor = executor;
  }

  @POST
  @AdmitsSubmission
  @Consumes(MediaType.APPLICATION_JSON)
  public void submit(
      @Context SecurityContext security,
      @Context ContainerRequestContext ctx,
      @HeaderParam("Idempotency-Key") String idempotencyKey,
      @HeaderParam("Prefer") String prefer,
      SubmitJobRequest request,
      @Suspended AsyncResponse async) {
    Caller caller = caller(security);
    Integer wait = waitSeconds(prefer);
    answer(caller, jobs.submit(caller, request, null, idempotencyKey), wait, async);
  }

  /**
   * An image job as {@code multipart/form-data}: an {@code image} file part and a {@code request}
   * part holding the same JSON as the JSON form (without {@code input.image}).
   */
  @POST
  @AdmitsSubmission
  @Consumes(MediaType.MULTIPART_FORM_DATA)
  public void submitMultipart(
      @Context SecurityContext security,
      @Context ContainerRequestContext ctx,
      @HeaderParam("Idempotency-Key") String idempotencyKey,
      @HeaderParam("Prefer") String prefer,
      FormDataMultiPart form,
      @Suspended AsyncResponse async) {
    Caller caller = caller(security);
    Integer wait = waitSeconds(prefer);
    if (form == null) {
      throw ApiProblem.validation("A multipart body with 'request' and 'image' parts is required.");
    }
    FormDataBodyPart requestPart = form.getField("request");
    FormDataBodyPart imagePart = form.getField("image");
    if (requestPart == null) {
      throw ApiProblem.validation("Part 'request' (the job as JSON) is required.", "request");
    }
    if (imagePart == null) {
      throw ApiProblem.validation("Part 'image' (the image file) is required.", "input.image");
    }
    SubmitJobRequest request;
    try {
      request = mapper.readValue(requestPart.getValueAs(String.class), SubmitJobRequest.class);
    } catch (JsonProcessingException e) {
      throw ApiProblem.validation(
          "Part 'request' is not a valid job request: " + e.getOriginalMessage(), "request");
    }
    byte[] image;
    try (InputStream in = imagePart.getValueAs(InputStream.class)) {
      image = in.readNBytes(ImageNormalizer.MAX_BYTES + 1);
    } catch (IOException e) {
      throw ApiProblem.validation("Part 'image' could not be read.", "input.image");
    }
    answer(caller, jobs.submit(caller, request, image, idempotencyKey), wait, async);
  }

  private void answer(
      Caller caller, JobService.Submitted submitted, Integer wait, AsyncResponse async) {
    if (submitted.replayed()) {
      // The first answer, byte for byte.
      async.resume(
          Response.accepted(submitted.replayedBody())
              .type(MediaType.APPLICATION_JSON_TYPE)
              .location(URI.create("/v1/jobs/" + submitted.jobId()))
              .header("Idempotent-Replayed", "true")
              .build());
      return;
    }
    JobView job = submitted.job();
    if (wait == null || wait == 0) {
      async.resume(accepted(job, wait));
      return;
    }
    // Registered before the state is read again, so an end in between is not missed.
    waiters
        .await(job.id(), Duration.ofSeconds(wait))
        .handleAsync(
            (v, timeout) -> {
              JobRow row = jobs.rowOf(caller, job.id());
              JobView now = jobs.view(row);
              return row.terminal() ? finished(now, wait) : accepted(now, wait);
            },
            executor)
        .whenComplete(
            (response, error) -> {
              if (error != null) {
                async.resume(error.getCause() != null ? error.getCause() : error);
              } else {
                async.resume(response);
              }
            });
    // The job may have ended before the waiter was registered.
    if (jobs.ended(caller, job.id())) {
      waiters.ended(job.id());
    }
  }

  private static Response accepted(JobView job, Integer wait) {
    Response.ResponseBuilder b = Response.accepted(job).location(URI.create(job.urls().get()));
    if (wait != null) {
      b.header("Preference-Applied", "wait=" + wait);
    }
    return b.build();
  }

  private static Response finished(JobView job, int wait) {
    return Response.ok(job)
        .location(URI.create(job.urls().get()))
        .header("Preference-Applied", "wait=" + wait)
        .build();
  }

  /** RFC 7240 {@code wait}: seconds to wait, capped at 60; null when not asked for. */
  static Integer waitSeconds(String prefer) {
    if (prefer == null) {
      return null;
    }
    Matcher m = WAIT.matcher(prefer.toLowerCase(java.util.Locale.ROOT));
    if (!m.find()) {
      return null;
    }
    if (m.group(1) == null) {
      return MAX_WAIT_SECONDS;
    }
    long n = Long.parseLong(m.group(1));
    return (int) Math.min(n, MAX_WAIT_SECONDS);
  }

  @GET
  public JobService.JobPage list(
      @Context SecurityContext security,
      @QueryParam("status") String status,
      @QueryParam("type") String type,
      @QueryParam("limit") String limit,
      @QueryParam("cursor") String cursor) {
    Integer n = null;
    if (limit != null) {
      try {
        n = Integer.valueOf(limit.trim());
      } catch (NumberFormatException e) {
        throw ApiProblem.validation("Query parameter 'limit' is between 1 and 100.", "limit");
      }
    }
    return jobs.list(caller(security), status, type, n, cursor);
  }

  @GET
  @Path("/{id}")
  public JobView get(@Context SecurityContext security, @PathParam("id") String id) {
    return jobs.find(caller(security), id);
  }

  /** The id of the last event of a native stream: a client resuming after it gets 204. */
  static final String END_EVENT_ID = "end";

  /**
   * The job's life as Server-Sent Events: {@code started}, {@code delta} ({@code {"offset",
   * "text"}}, id = the output's length so far) and {@code completed} (the job object, id {@value
   * #END_EVENT_ID}). Text jobs submitted with {@code input.stream: true} stream token by token;
   * other jobs deliver their text in one delta at the end. Resumable: {@code Last-Event-ID} (what
   * EventSource sends on reconnecting) continues after that event; after the end it is 204, which
   * tells EventSource to stop. Watching does not affect the job: a client that goes away cancels
   * nothing (the OpenAI routes' streams do).
   */
  @GET
  @Path("/{id}/events")
  @Produces({"text/event-stream", MediaType.APPLICATION_JSON})
  public Response events(
      @Context SecurityContext security,
      @PathParam("id") String id,
      @HeaderParam("Last-Event-ID") String lastEventId) {
    Caller caller = caller(security);
    jobs.find(caller, id); // 404 for another account's job, before the stream starts
    String last = lastEventId == null ? null : lastEventId.trim();
    if (END_EVENT_ID.equals(last)) {
      return Response.noContent().build();
    }
    int from = 0;
    boolean resumed = false;
    if (last != null && last.matches("\\d{1,9}")) {
      from = Integer.parseInt(last);
      resumed = true;
    }
    int start = from;
    boolean sawStart = resumed;
    org.glassfish.jersey.server.ChunkedOutput<String> body = Sse.body();
    relay.start(
        relay.reserve(caller),
        () -> {
          try (Sse sse = new Sse(body)) {
            sse.retry(1000);
            relay.relay(caller, id, start, sawStart, sse, new NativeFrames(id));
          }
        });
    return Response.ok(body, "text/event-stream")
        .header("Cache-Control", "no-cache")
        .header("X-Accel-Buffering", "no")
        .build();
  }

  /** Native event frames: started, delta, completed. */
  private final class NativeFrames implements StreamRelay.Frames {
    private final String jobId;

    NativeFrames(String jobId) {
      this.jobId = jobId;
    }

    @Override
    public void started(Sse sse) throws IOException {
      sse.event("started", "0", json(Map.of("id", jobId, "status", "running")));
    }

    @Override
    public void text(Sse sse, int offset, String text, Double engineFirstTokenMs)
        throws IOException {
      sse.event(
          "delta",
          Integer.toString(offset + text.length()),
          json(Map.of("offset", offset, "text", text)));
    }

    @Override
    public void ended(Sse sse, JobView job, int offset, String rest) throws IOException {
      if (!rest.isEmpty()) {
        text(sse, offset, rest, null);
      }
      sse.event("completed", END_EVENT_ID, json(job));
    }
  }

  private String json(Object value) {
    try {
      return mapper.writeValueAsString(value);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot serialise an event", e);
    }
  }

  @POST
  @Path("/{id}/cancel")
  public Response cancel(@Context SecurityContext security, @PathParam("id") String id) {
    return Response.accepted(jobs.cancel(caller(security), id)).build();
  }

  @GET
  @Path("/{id}/webhook-deliveries")
  public Map<String, Object> webhookDeliveries(
      @Context SecurityContext security, @PathParam("id") String id) {
    Caller caller = caller(security);
    jobs.find(caller, id); // 404 for another account's job
    return Map.of("data", deliveries.attempts(id));
  }

  private static Caller caller(SecurityContext security) {
    return (Caller) security.getUserPrincipal();
  }
}
