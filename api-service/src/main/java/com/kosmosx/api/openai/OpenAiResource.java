package com.kosmosx.api.openai;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.kosmosx.api.api.JobView;
import com.kosmosx.api.auth.AdmitsSubmission;
import com.kosmosx.api.auth.Authenticated;
import com.kosmosx.api.auth.Caller;
import com.kosmosx.api.db.JobRow;
import com.kosmosx.api.errors.ApiProblem;
import com.kosmosx.api.jobs.JobService;
import com.kosmosx.api.jobs.JobWaiters;
import com.kosmosx.api.streaming.Sse;
import com.kosmosx.api.streaming.StreamRelay;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.HeaderParam;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.container.AsyncResponse;
import jakarta.ws.rs.container.Suspended;
import jakarta.ws.rs.core.Context;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.core.SecurityContext;
import java.io.IOException;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * OpenAI's protocol over our jobs: {@code GET /v1/models}, {@code POST /v1/chat/completions} and
 * {@code POST /v1/completions}, for the clients everyone already has. Each request is a job like
 * any other: accepted durably before the first byte of the answer, listed in {@code GET /v1/jobs}
 * under the id the answer carries, billed by the same rule, idempotent under {@code
 * Idempotency-Key}. A non-streaming request waits for its job; a streaming one relays the worker's
 * deltas as chunks, and a client that goes away cancels its job (billed for the work done, as any
 * job canceled while it runs). Errors are OpenAI's {@code {"error": {...}}} ({@link
 * OpenAiErrorFilter}).
 */
@Path("/v1/chat/completions")
@Authenticated(Authenticated.Scheme.API_KEY)
@Produces(MediaType.APPLICATION_JSON)
public final class OpenAiResource {
  // One root resource per path: a root at "/v1" would win the match for every "/v1/…" path that
  // another root declares only at method level ("/v1/ping" under "/") and answer it 404.

  /** {@code /v1/models}. */
  @Path("/v1/models")
  @Authenticated(Authenticated.Scheme.API_KEY)
  @Produces(MediaType.APPLICATION_JSON)
  public static final class Models {
    private final OpenAiResource openai;

    public Models(OpenAiResource openai) {
      this.openai = openai;
    }

    @GET
    public ObjectNode list() {
      return openai.models();
    }

    @GET
    @Path("/{id}")
    public ObjectNode get(@PathParam("id") String id) {
      return openai.model(id);
    }
  }

  /** {@code /v1/completions}. */
  @Path("/v1/completions")
  @Authenticated(Authenticated.Scheme.API_KEY)
  @Produces(MediaType.APPLICATION_JSON)
  public static final class Completions {
    private final OpenAiResource openai;

    public Completions(OpenAiResource openai) {
      this.openai = openai;
    }

    @POST
    @AdmitsSubmission
    @Consumes(MediaType.APPLICATION_JSON)
    public void completions(
        @Context SecurityContext security,
        @HeaderParam("Idempotency-Key") String idempotencyKey,
        JsonNode body,
        @Suspended AsyncResponse async) {
      openai.handle(security, idempotencyKey, OpenAiRequests.completion(body), false, async);
    }
  }

  private static final Logger LOG = LoggerFactory.getLogger(OpenAiResource.class);

  private final JobService jobs;
  private final JobWaiters waiters;
  private final StreamRelay relay;
  private final ImageFetcher images;
  private final ObjectMapper mapper;
  private final Executor executor;
  private final String modelId;
  private final int contextTokens;
  private final Duration maxWait;
  private final long created = System.currentTimeMillis() / 1000;

  public OpenAiResource(
      JobService jobs,
      JobWaiters waiters,
      StreamRelay relay,
      ImageFetcher images,
      ObjectMapper mapper,
      Executor executor,
      String modelId,
      int contextTokens,
      Duration maxWait) {
    this.jobs = jobs;
    this.waiters = waiters;
    this.relay = relay;
    this.images = images;
    this.mapper = mapper;
    this.executor = executor;
    this.modelId = modelId;
    this.contextTokens = contextTokens;
    this.maxWait = maxWait;
  }

  ObjectNode models() {
    ObjectNode list = mapper.createObjectNode().put("object", "list");
    list.putArray("data").add(model());
    return list;
  }

  ObjectNode model(String id) {
    if (!modelId.equals(id)) {
      throw modelNotFound(id);
    }
    return model();
  }

  private ObjectNode model() {
    return mapper
        .createObjectNode()
        .put("id", modelId)
        .put("object", "model")
        .put("created", created)
        .put("owned_by", "kosmosx")
        // vLLM's name for the context limit; clients that size prompts read it.
        .put("max_model_len", contextTokens)
        .put("context_length", contextTokens);
  }

  private ApiProblem modelNotFound(String id) {
    return new ApiProblem(
        404,
        "model_not_found",
        "Model not found",
        "The model '" + id + "' does not exist; this API serves '" + modelId + "'.",
        Map.of("field", "model"));
  }

  @POST
  @AdmitsSubmission
  @Consumes(MediaType.APPLICATION_JSON)
  public void chat(
      @Context SecurityContext security,
      @HeaderParam("Idempotency-Key") String idempotencyKey,
      JsonNode body,
      @Suspended AsyncResponse async) {
    handle(security, idempotencyKey, OpenAiRequests.chat(body), true, async);
  }

  void handle(
      SecurityContext security,
      String idempotencyKey,
      OpenAiRequests.Parsed p,
      boolean chat,
      AsyncResponse async) {
    Caller caller = (Caller) security.getUserPrincipal();
    if (!modelId.equals(p.model())) {
      throw modelNotFound(p.model());
    }
    // A stream's place is taken first: a refused stream submits nothing.
    StreamRelay.Slot slot = p.stream() ? relay.reserve(caller) : null;
    JobService.Submitted submitted;
    try {
      byte[] upload = p.imageUrl() == null ? null : images.fetch(p.imageUrl(), "messages");
      submitted = jobs.submit(caller, p.request(), upload, idempotencyKey);
    } catch (RuntimeException e) {
      if (slot != null) {
        slot.release();
      }
      throw e;
    }
    String jobId = submitted.jobId();
    Shapes shapes = new Shapes(chat, jobId, System.currentTimeMillis() / 1000, modelId);
    if (p.stream()) {
      org.glassfish.jersey.server.ChunkedOutput<String> out = Sse.body();
      relay.start(
          slot,
          () -> {
            try (Sse sse = new Sse(out)) {
              stream(caller, jobId, shapes, p.includeUsage(), sse);
            }
          });
      async.resume(
          Response.ok(out, "text/event-stream")
              .header("Cache-Control", "no-cache")
              .header("X-Accel-Buffering", "no")
              .header("x-kosmos-job-id", jobId)
              .build());
      return;
    }
    waiters
        .await(jobId, maxWait)
        .handleAsync((v, timeout) -> answer(caller, jobId, shapes), executor)
        .whenComplete(
            (response, error) -> {
              if (error != null) {
                async.resume(error.getCause() != null ? error.getCause() : error);
              } else {
                async.resume(response);
              }
            });
    if (jobs.ended(caller, jobId)) {
      waiters.ended(jobId);
    }
  }

  /** The finished job as a completion, or the job's failure as an OpenAI error. */
  private Response answer(Caller caller, String jobId, Shapes shapes) {
    JobRow row = jobs.rowOf(caller, jobId);
    JobView job = jobs.view(row);
    if (!row.terminal()) {
      throw new ApiProblem(
              504,
              "job_still_running",
              "Still running",
              "Job "
                  + jobId
                  + " has not finished within "
                  + maxWait.toSeconds()
                  + " s; it goes on, and its result will be at /v1/jobs/"
                  + jobId
                  + ".",
              Map.of("job_id", jobId))
          .withHeader("x-should-retry", "false");
    }
    if (!"succeeded".equals(job.status())) {
      throw failure(job);
    }
    ObjectNode body = shapes.completion(job);
    return Response.ok(body).header("x-kosmos-job-id", jobId).build();
  }

  /** A job that did not succeed, as the error a client of OpenAI would get. */
  static ApiProblem failure(JobView job) {
    String code = job.error() == null ? job.status() : job.error().code();
    String message =
        job.error() == null ? "The job ended " + job.status() + "." : job.error().message();
    int status =
        switch (code) {
          case "context_length_exceeded", "invalid_image", "invalid_input" -> 400;
          case "canceled" -> 409;
          case "timeout" -> 504;
          case "expired" -> 503;
          default -> 500;
        };
    if ("canceled".equals(job.status())) {
      code = "canceled";
      status = 409;
    }
    ApiProblem p =
        new ApiProblem(status, code, "Job " + job.status(), message, Map.of("job_id", job.id()));
    // The openai clients retry 409 and 5xx; a canceled or timed-out job would only run again.
    return status == 409 || status == 504 ? p.withHeader("x-should-retry", "false") : p;
  }

  private void stream(Caller caller, String jobId, Shapes shapes, boolean usage, Sse sse) {
    OpenAiFrames frames = new OpenAiFrames(shapes, usage);
    boolean finished;
    try {
      // The headers go out at once (and, for chat, the role, as OpenAI sends it first).
      sse.comment("job " + jobId);
      if (shapes.chat) {
        sse.data(write(shapes.first(usage)));
      }
      finished = relay.relay(caller, jobId, 0, false, sse, frames);
    } catch (IOException gone) {
      finished = false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      finished = false;
    }
    if (!finished) {
      // The client went away: stop the generation; the tokens produced so far are billed.
      try {
        jobs.cancel(caller, jobId);
        LOG.info("job {} canceled: its streaming client disconnected", jobId);
      } catch (ApiProblem alreadyOver) {
        LOG.debug("job {} had ended when its client left", jobId);
      }
    }
  }

  private String write(JsonNode n) {
    try {
      return mapper.writeValueAsString(n);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Chunks of a chat or completions stream. */
  private final class OpenAiFrames implements StreamRelay.Frames {
    private final Shapes shapes;
    private final boolean usage;

    OpenAiFrames(Shapes shapes, boolean usage) {
      this.shapes = shapes;
      this.usage = usage;
    }

    @Override
    public void started(Sse sse) {}

    @Override
    public void text(Sse sse, int offset, String text, Double engineFirstTokenMs)
        throws IOException {
      if (engineFirstTokenMs != null) {
        // A comment: ignored by clients; read by ./kosmos bench (TTFT minus the engine's part).
        sse.comment("engine_first_token_ms=" + engineFirstTokenMs);
      }
      sse.data(write(shapes.delta(text, null, null, usage)));
    }

    @Override
    public void ended(Sse sse, JobView job, int offset, String rest) throws IOException {
      if (!"succeeded".equals(job.status())) {
        ApiProblem p = failure(job);
        sse.data(write(OpenAiErrorFilter.error(p.status(), p.code(), p.getMessage(), null)));
        sse.data("[DONE]");
        return;
      }
      if (!rest.isEmpty()) {
        sse.data(write(shapes.delta(rest, null, null, usage)));
      }
      JsonNode objects = shapes.objects(job);
      sse.data(write(shapes.delta(null, objects, Shapes.finishReason(job), usage)));
      if (usage) {
        sse.data(write(shapes.usageChunk(job)));
      }
      sse.data("[DONE]");
    }
  }

  /** The response shapes of one request. */
  static final class Shapes {
    private final boolean chat;
    private final String id;
    private final long created;
    private final String model;

    Shapes(boolean chat, String id, long created, String model) {
      this.chat = chat;
      this.id = id;
      this.created = created;
      this.model = model;
    }

    private ObjectNode head(String object) {
      ObjectNode n = com.kosmosx.contracts.Json.mapper().createObjectNode();
      n.put("id", id).put("object", object).put("created", created).put("model", model);
      return n;
    }

    ObjectNode completion(JobView job) {
      ObjectNode n = head(chat ? "chat.completion" : "text_completion");
      ObjectNode choice = n.putArray("choices").addObject().put("index", 0);
      String text = job.output() == null ? "" : job.output().path("text").asText("");
      if (chat) {
        ObjectNode message = choice.putObject("message");
        message.put("role", "assistant").put("content", text).putNull("refusal");
        JsonNode objects = objects(job);
        if (objects != null) {
          message.set("objects", objects);
        }
      } else {
        choice.put("text", text);
      }
      choice.putNull("logprobs");
      choice.put("finish_reason", finishReason(job));
      n.set("usage", usage(job));
      return n;
    }

    ObjectNode first(boolean usage) {
      ObjectNode n = chunkHead(usage);
      ObjectNode choice = ((ArrayNode) n.get("choices")).addObject().put("index", 0);
      choice.putObject("delta").put("role", "assistant").put("content", "");
      choice.putNull("logprobs").putNull("finish_reason");
      return n;
    }

    private ObjectNode chunkHead(boolean usage) {
      ObjectNode n = head(chat ? "chat.completion.chunk" : "text_completion");
      n.putArray("choices");
      if (usage) {
        n.putNull("usage");
      }
      return n;
    }

    ObjectNode delta(String text, JsonNode objects, String finish, boolean usage) {
      ObjectNode n = chunkHead(usage);
      ObjectNode choice = ((ArrayNode) n.get("choices")).addObject().put("index", 0);
      if (chat) {
        ObjectNode d = choice.putObject("delta");
        if (text != null) {
          d.put("content", text);
        }
        if (objects != null) {
          d.set("objects", objects);
        }
      } else {
        choice.put("text", text == null ? "" : text);
      }
      choice.putNull("logprobs");
      if (finish == null) {
        choice.putNull("finish_reason");
      } else {
        choice.put("finish_reason", finish);
      }
      return n;
    }

    ObjectNode usageChunk(JobView job) {
      ObjectNode n = head(chat ? "chat.completion.chunk" : "text_completion");
      n.putArray("choices");
      n.set("usage", usage(job));
      return n;
    }

    static ObjectNode usage(JobView job) {
      ObjectNode u = com.kosmosx.contracts.Json.mapper().createObjectNode();
      int in = job.usage() == null ? 0 : job.usage().inputTokens();
      int out = job.usage() == null ? 0 : job.usage().outputTokens();
      return u.put("prompt_tokens", in).put("completion_tokens", out).put("total_tokens", in + out);
    }

    /** Detected objects of an image job (our extension), null for text. */
    JsonNode objects(JobView job) {
      if (!"image".equals(job.type()) || job.output() == null) {
        return null;
      }
      JsonNode o = job.output().get("objects");
      return o == null || o.isNull() ? com.kosmosx.contracts.Json.mapper().createArrayNode() : o;
    }

    /** The worker's reason; for jobs from before it said, inferred from the token count. */
    static String finishReason(JobView job) {
      JsonNode f = job.output() == null ? null : job.output().get("finish_reason");
      if (f != null && f.isTextual()) {
        return f.asText();
      }
      Integer max = job.input() == null ? null : job.input().path("max_tokens").asInt(0);
      return job.usage() != null && max != null && job.usage().outputTokens() >= max
          ? "length"
          : "stop";
    }
  }
}
