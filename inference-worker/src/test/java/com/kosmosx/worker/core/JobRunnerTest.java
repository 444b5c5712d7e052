package com.kosmosx.worker.core;

import static org.assertj.core.api.Assertions.assertThat;

import com.kosmosx.contracts.JobInput;
import com.kosmosx.contracts.JobRequest;
import com.kosmosx.contracts.JobType;
import com.kosmosx.worker.model.LanguageModel;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;

class JobRunnerTest {
  private static JobRequest text(String prompt, int maxTokens) {
    return new JobRequest(
        "job_1",
        "acc_1",
        JobType.TEXT,
        "shared",
        JobInput.text(prompt, maxTokens),
        Instant.EPOCH,
        null);
  }

  private static JobRunner runner(LanguageModel model, int maxContext) {
    return new JobRunner(
        new Generator(model, new GeneratorTest.LetterTokenizer(), 0, 2),
        null,
        null,
        maxContext,
        1000,
        Duration.ofSeconds(30),
        Clock.systemUTC(),
        id -> id.startsWith("job_cancel"));
  }

  @Test
  void aSucceededJobCarriesOutputAndTokenUsage() {
    JobOutcome o = runner(new GeneratorTest.ScriptedModel(10, 11, 2), 100).run(text("abc", 5));
    assertThat(o.succeeded()).isTrue();
    assertThat(o.output().text()).isEqualTo("ab");
    assertThat(o.usage().inputTokens()).isEqualTo(3);
    assertThat(o.usage().outputTokens()).isEqualTo(2);
  }

  @Test
  void aPromptOverTheContextFailsWithTheNumbers() {
    JobOutcome o = runner(new GeneratorTest.ScriptedModel(10), 10).run(text("abcdefgh", 5));
    assertThat(o.succeeded()).isFalse();
    assertThat(o.error().code()).isEqualTo("context_length_exceeded");
    assertThat(o.error().message()).contains("8 tokens").contains("max_tokens 5");
  }

  @Test
  void aModelErrorFailsTheJobNotTheWorker() {
    LanguageModel broken =
        new GeneratorTest.ScriptedModel(10) {
          @Override
          public Batch start(java.util.List<Prompt> prompts) {
            throw new IllegalStateException("CUDA out of memory (simulated)");
          }
        };
    JobOutcome o = runner(broken, 100).run(text("abc", 5));
    assertThat(o.error().code()).isEqualTo("model_error");
    assertThat(o.error().message()).doesNotContain("CUDA");
  }

  @Test
  void aCanceledJobStopsAndEndsCanceledNotTimedOut() {
    var job =
        new JobRequest(
            "job_cancel_1",
            "acc_1",
            JobType.TEXT,
            "shared",
            JobInput.text("abc", 5),
            Instant.EPOCH,
            null);
    JobOutcome o = runner(new GeneratorTest.ScriptedModel(10, 11, 12), 100).run(job);
    assertThat(o.wasCanceled()).isTrue();
    assertThat(o.succeeded()).isFalse();
    // Canceled once it ran: the work done before the cancel is reported, to be billed.
    assertThat(o.usage()).isNotNull();
    assertThat(o.usage().inputTokens()).isEqualTo(3);
    assertThat(o.usage().outputTokens()).isBetween(0, 2);
  }

  @Test
  void imageJobsAreRefusedByTheTextEngine() {
    var image =
        new JobRequest(
            "job_2", "acc_1", JobType.IMAGE, "shared", JobInput.text("x", 5), Instant.EPOCH, null);
    assertThat(runner(new GeneratorTest.ScriptedModel(10), 100).run(image).error().code())
        .isEqualTo("unsupported_job_type");
  }

  @Test
  void aJobThatCannotRunEndsBeforeItsBatchDecodes() {
    // "abcdefgh" with max_tokens 5 is over the 10-token context: it fails at preparation and its
    // group is handed over before the other job's first decode step.
    java.util.List<String> events = new java.util.ArrayList<>();
    runner(new GeneratorTest.ScriptedModel(10, 11, 12, 2), 10)
        .run(
            java.util.List.of(text("abcdefgh", 5), text("ab", 3)),
            (i, o) -> events.add("done " + i + " " + (o.succeeded() ? "ok" : o.error().code())),
            () -> events.add("step"));
    assertThat(events.subList(0, 2)).containsExactly("done 0 context_length_exceeded", "step");
    assertThat(events).contains("done 1 ok");
    assertThat(events.get(events.size() - 1)).isEqualTo("step");
  }
}
