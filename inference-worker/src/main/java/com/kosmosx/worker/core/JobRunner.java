package com.kosmosx.worker.core;

import com.kosmosx.contracts.JobEvent;
import com.kosmosx.contracts.JobInput;
import com.kosmosx.contracts.JobRequest;
import com.kosmosx.contracts.JobType;
import com.kosmosx.worker.model.LanguageModel;
import com.kosmosx.worker.vision.Grounding;
import com.kosmosx.worker.vision.ImagePreprocessor;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BiConsumer;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs jobs on the model as one batch and turns every failure into a job outcome: a bad input, a
 * model error or the time limit fails that job with a clear error; it never takes the batch or the
 * worker down. Image jobs are preprocessed here and their grounding tags parsed into objects.
 */
public final class JobRunner {
  private static final Logger LOG = LoggerFactory.getLogger(JobRunner.class);

  /** Prompt of an image job that gives none (Kosmos-2's captioning prompt). */
  static final String DEFAULT_IMAGE_PROMPT = "An image of";

  private final Generator generator;
  private final PromptFormat format;
  private final ImagePreprocessor images;
  private final int maxContextTokens;
  private final int modelMaxContext;
  private final Duration timeLimit;
  private final Clock clock;
  private final Predicate<String> canceled;
  private volatile StreamSink stream = StreamSink.NONE;

  /**
   * Where the text of streaming jobs goes while it is generated ({@link
   * com.kosmosx.contracts.JobInput#stream}). Called on the decode thread: an implementation hands
   * the delta off and returns; it must never block or throw into the model loop.
   */
  public interface StreamSink {
    StreamSink NONE =
        new StreamSink() {
          @Override
          public void started(List<JobRequest> jobs) {}

          @Override
          public void delta(JobRequest job, int offset, String text, Double engineFirstTokenMs) {}
        };

    /** The batch holding these streaming jobs starts. */
    void started(List<JobRequest> jobs);

    void delta(JobRequest job, int offset, String text, Double engineFirstTokenMs);
  }

  /** Sends the deltas of streaming jobs to {@code sink} (by default they go nowhere). */
  public JobRunner streamingTo(StreamSink sink) {
    this.stream = sink == null ? StreamSink.NONE : sink;
    return this;
  }

  /** Whether the worker publishes deltas for this job: streaming text jobs (see README). */
  static boolean streams(JobRequest job) {
    return job.type() == JobType.TEXT && job.input() != null && job.input().streams();
  }

  /**
   * @param format null for a text-only engine
   * @param images null for a text-only engine
   */
  public JobRunner(
      Generator generator,
      PromptFormat format,
      ImagePreprocessor images,
      int maxContextTokens,
      int modelMaxContext,
      Duration timeLimit,
      Clock clock,
      Predicate<String> canceled) {
    this.canceled = canceled == null ? id -> false : canceled;
    this.generator = generator;
    this.format = format;
    this.images = images;
    this.maxContextTokens = maxContextTokens;
    this.modelMaxContext = modelMaxContext;
    this.timeLimit = timeLimit;
    this.clock = clock;
  }

  /** Runs one job (a batch of one). */
  public JobOutcome run(JobRequest job) {
    JobOutcome[] out = new JobOutcome[1];
    run(List.of(job), (i, o) -> out[0] = o);
    return out[0];
  }

  /**
   * Runs the jobs as one batch; {@code done} receives each job's outcome (by index) as soon as it
   * is known, so a short job's result does not wait for the batch's longest one.
   */
  public void run(List<JobRequest> jobs, BiConsumer<Integer, JobOutcome> done) {
    run(jobs, done, () -> {});
  }

  /**
   * As {@link #run(List, BiConsumer)}; {@code stepEnded} runs once all outcomes known after a
   * decode step have been given to {@code done} (and once at the end), so they can be handled as
   * one group.
   */
  public void run(
      List<JobRequest> jobs, BiConsumer<Integer, JobOutcome> reported, Runnable stepEnded) {
    BiConsumer<Integer, JobOutcome> done =
        (i, o) -> {
          try {
            WorkerMetrics.ended(jobs.get(i), o, clock.instant());
          } catch (RuntimeException e) {
            LOG.warn("metrics of job {}: {}", jobs.get(i).jobId(), e.toString());
          }
          reported.accept(i, o);
        };
    List<Generator.Request> requests = new ArrayList<>();
    List<Integer> indexOf = new ArrayList<>();
    long deadline = clock.millis() + timeLimit.toMillis();
    for (int i = 0; i < jobs.size(); i++) {
      JobRequest job = jobs.get(i);
      Object prepared;
      try {
        prepared = prepare(job, deadline);
      } catch (ImagePreprocessor.InvalidImageException e) {
        prepared = JobOutcome.failed("invalid_image", "The image " + e.getMessage() + ".");
      } catch (RuntimeException e) {
        LOG.error("cannot prepare job {}", job.jobId(), e);
        prepared = JobOutcome.failed("model_error", "The model failed on this input.");
      }
      if (prepared instanceof JobOutcome o) {
        done.accept(i, o);
      } else {
        requests.add((Generator.Request) prepared);
        indexOf.add(i);
      }
    }
    if (requests.size() < jobs.size()) {
      stepEnded.run(); // jobs that cannot run end now, not after the batch's first decode step
    }
    if (requests.isEmpty()) {
      return;
    }
    StreamSink sink = stream;
    List<JobRequest> streaming = new ArrayList<>();
    for (int i : indexOf) {
      if (streams(jobs.get(i))) {
        streaming.add(jobs.get(i));
      }
    }
    if (!streaming.isEmpty()) {
      sink.started(streaming);
    }
    java.time.Instant batchStart = clock.instant();
    int widest = 0;
    for (int r = 0; r < requests.size(); r++) {
      WorkerMetrics.queued(jobs.get(indexOf.get(r)), batchStart);
      widest = Math.max(widest, requests.get(r).prompt().capacity());
    }
    WorkerMetrics.BATCH_SIZE.labelValues(WorkerMetrics.lane(jobs.get(0))).observe(requests.size());
    long kvTokens = (long) widest * requests.size();
    WorkerMetrics.KV_TOKENS.addAndGet(kvTokens);
    WorkerMetrics.RUNNING.addAndGet(requests.size());
    long[] firstTokenNanos = new long[requests.size()];
    try {
      generate(jobs, requests, indexOf, done, stepEnded, sink, firstTokenNanos);
    } finally {
      WorkerMetrics.KV_TOKENS.addAndGet(-kvTokens);
    }
  }

  private void generate(
      List<JobRequest> jobs,
      List<Generator.Request> requests,
      List<Integer> indexOf,
      BiConsumer<Integer, JobOutcome> done,
      Runnable stepEnded,
      StreamSink sink,
      long[] firstTokenNanos) {
    generator.generate(
        requests,
        new Generator.Listener() {
          @Override
          public void firstToken(int request) {
            firstTokenNanos[request] = System.nanoTime();
            WorkerMetrics.firstToken(jobs.get(indexOf.get(request)), clock.instant());
          }

          @Override
          public void finished(int request, Generation g) {
            WorkerMetrics.RUNNING.decrementAndGet();
            int i = indexOf.get(request);
            WorkerMetrics.interToken(
                jobs.get(i), firstTokenNanos[request], System.nanoTime(), g.outputTokens());
            done.accept(i, outcome(jobs.get(i), g));
          }

          @Override
          public void failed(int request, RuntimeException error) {
            WorkerMetrics.RUNNING.decrementAndGet();
            int i = indexOf.get(request);
            if (error instanceof Generator.GenerationInterrupted stopped
                && canceled.test(jobs.get(i).jobId())) {
              // Billed for the work done before the cancel (BillableUnits.billed).
              done.accept(
                  i,
                  JobOutcome.canceled(
                      "Canceled while running, at the client's request.",
                      new JobEvent.Usage(
                          stopped.inputTokens(),
                          stopped.generatedTokens(),
                          jobs.get(i).type() == JobType.IMAGE ? 1 : 0)));
            } else if (error instanceof Generator.GenerationInterrupted) {
              done.accept(
                  i,
                  JobOutcome.failed(
                      "timeout",
                      "The job exceeded the " + timeLimit.toSeconds() + " s time limit."));
            } else {
              LOG.error("model error on job {}", jobs.get(i).jobId(), error);
              done.accept(i, JobOutcome.failed("model_error", "The model failed on this input."));
            }
          }

          @Override
          public void stepEnded() {
            stepEnded.run();
          }

          @Override
          public void delta(int request, int offset, String text, Double engineFirstTokenMs) {
            sink.delta(jobs.get(indexOf.get(request)), offset, text, engineFirstTokenMs);
          }
        });
  }

  /** A generator request, or the job's outcome when it cannot run. */
  private Object prepare(JobRequest job, long deadline) {
    JobInput in = job.input();
    if (in == null || in.maxTokens() < 1) {
      return JobOutcome.failed("invalid_input", "The job has no input or no max_tokens.");
    }
    boolean image = job.type() == JobType.IMAGE;
    if (image && (format == null || images == null)) {
      return JobOutcome.failed("unsupported_job_type", "This worker runs text jobs only.");
    }
    if (!image && (in.prompt() == null || in.prompt().isEmpty())) {
      return JobOutcome.failed("invalid_input", "The job has no prompt.");
    }
    if (image && (in.image() == null || in.image().data() == null)) {
      return JobOutcome.failed("invalid_image", "The image job carries no image.");
    }
    String text = in.prompt() == null ? (image ? DEFAULT_IMAGE_PROMPT : "") : in.prompt();
    long[] textIds = generator.tokenizer().encode(text);
    int promptTokens = textIds.length;
    LanguageModel.Prompt prompt;
    if (image) {
      boolean grounding =
          !Boolean.FALSE.equals(in.detectObjects()) && !text.startsWith("<grounding>");
      long[] ids = format.imagePrompt(textIds, grounding);
      prompt =
          new LanguageModel.Prompt(
              ids, in.maxTokens(), images.fromBase64(in.image().data()), format.imageOffset());
    } else {
      long[] ids = new long[textIds.length + 1];
      ids[0] = generator.bosId();
      System.arraycopy(textIds, 0, ids, 1, textIds.length);
      prompt = LanguageModel.Prompt.text(ids, in.maxTokens());
    }
    if (promptTokens + in.maxTokens() > maxContextTokens || prompt.capacity() > modelMaxContext) {
      return JobOutcome.failed(
          "context_length_exceeded",
          "The prompt has "
              + promptTokens
              + " tokens; with max_tokens "
              + in.maxTokens()
              + " that exceeds the "
              + maxContextTokens
              + "-token context.");
    }
    return new Generator.Request(
        prompt,
        promptTokens,
        () -> new Sampler(in.temperature(), in.topP(), in.seed()),
        in.stop() == null ? List.of() : in.stop(),
        () -> clock.millis() > deadline || canceled.test(job.jobId()),
        streams(job),
        Boolean.TRUE.equals(in.ignoreEos()));
  }

  private JobOutcome outcome(JobRequest job, Generation g) {
    if (job.type() != JobType.IMAGE) {
      return JobOutcome.succeeded(
          new JobEvent.Output(g.text(), List.of(), g.finishReason()),
          new JobEvent.Usage(g.inputTokens(), g.outputTokens(), 0));
    }
    Grounding.Result parsed = Grounding.parse(g.text());
    boolean objects = !Boolean.FALSE.equals(job.input().detectObjects());
    return JobOutcome.succeeded(
        new JobEvent.Output(
            parsed.text(), objects ? parsed.objects() : List.of(), g.finishReason()),
        new JobEvent.Usage(g.inputTokens(), g.outputTokens(), 1));
  }
}
