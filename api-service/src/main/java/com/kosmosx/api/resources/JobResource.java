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

  /**
   * @param mapper the strict REST mapper, for the JSON part of a multipart submission
   * @param executor runs the answers of waiting requests (never the listener's thread)
   */
  public JobResource(
      JobService jobs,
      Limits limits,
      ObjectMapper mapper,
      JobWaiters waiters,
      WebhookDeliveries deliveries,
      Executor executor) {
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
