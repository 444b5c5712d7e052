package com.kosmosx.worker.core;

import com.kosmosx.contracts.JobEvent;
import com.kosmosx.contracts.JobInput;
import com.kosmosx.contracts.JobRequest;
import com.kosmosx.contracts.JobType;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs one job on the model and turns every failure into a job outcome: a bad input or a model
 * error fails that job with a clear error; it never takes the worker down.
 */
public final class JobRunner {
  private static final Logger LOG = LoggerFactory.getLogger(JobRunner.class);

  private final Generator generator;
  private final int maxContextTokens;
  private final int modelMaxContext;
  private final Duration timeLimit;
  private final Clock clock;

  public JobRunner(
      Generator generator,
      int maxContextTokens,
      int modelMaxContext,
      Duration timeLimit,
      Clock clock) {
    this.generator = generator;
    this.maxContextTokens = maxContextTokens;
    this.modelMaxContext = modelMaxContext;
    this.timeLimit = timeLimit;
    this.clock = clock;
  }

  public JobOutcome run(JobRequest job) {
    if (job.type() != JobType.TEXT) {
      return JobOutcome.failed(
          "unsupported_job_type", "This worker runs text jobs; got " + job.type().wire() + ".");
    }
    JobInput in = job.input();
    if (in.prompt() == null || in.maxTokens() < 1) {
      return JobOutcome.failed("invalid_input", "The job has no prompt or no max_tokens.");
    }
    long deadline = clock.millis() + timeLimit.toMillis();
    try {
      long[] prompt = generator.promptIds(in.prompt());
      int promptTokens = prompt.length - 1;
      if (promptTokens + in.maxTokens() > maxContextTokens
          || prompt.length + in.maxTokens() > modelMaxContext) {
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
      Generation g =
          generator.generate(
              prompt,
              in.maxTokens(),
              new Sampler(in.temperature(), in.topP(), in.seed()),
              in.stop() == null ? List.of() : in.stop(),
              () -> clock.millis() > deadline);
      return JobOutcome.succeeded(
          new JobEvent.Output(g.text(), List.of()),
          new JobEvent.Usage(g.inputTokens(), g.outputTokens(), 0));
    } catch (Generator.GenerationInterrupted e) {
      return JobOutcome.failed(
          "timeout", "The job exceeded the " + timeLimit.toSeconds() + " s time limit.");
    } catch (RuntimeException e) {
      LOG.error("model error on job {}", job.jobId(), e);
      return JobOutcome.failed("model_error", "The model failed on this input.");
    }
  }
}
