package com.kosmosx.api.outbox;

import static org.assertj.core.api.Assertions.assertThat;

import com.kosmosx.contracts.JobInput;
import com.kosmosx.contracts.JobRequest;
import com.kosmosx.contracts.JobType;
import com.kosmosx.contracts.Topics;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;

class DeadLettersTest {
  private static final Instant SUBMITTED = Instant.parse("2026-12-01T08:00:00Z");
  private static final Instant REPLAYED = Instant.parse("2026-12-01T11:00:00Z");

  @Test
  void aReplayedJobGetsAFreshDeadlineSoItRunsInsteadOfExpiring() {
    JobRequest job =
        new JobRequest(
            "job_1",
            "acc_1",
            JobType.TEXT,
            "acme",
            JobInput.text("hi", 5),
            SUBMITTED,
            SUBMITTED.plus(Duration.ofHours(1)));
    byte[] back =
        DeadLetters.requeued(
            Topics.jobs("acme").name(),
            Topics.jobs("acme").serializeValue(job),
            REPLAYED.plus(Duration.ofHours(1)));
    JobRequest replayed = Topics.jobs("acme").deserializeValue(back);
    assertThat(replayed.deadline()).isEqualTo(REPLAYED.plus(Duration.ofHours(1)));
    assertThat(replayed.submittedAt()).as("its history stays").isEqualTo(SUBMITTED);
    assertThat(replayed.input()).isEqualTo(job.input());
  }

  @Test
  void bytesThatAreNotAJobAndOtherTopicsGoBackAsTheyWere() {
    byte[] junk = "{oops".getBytes(StandardCharsets.UTF_8);
    assertThat(DeadLetters.requeued(Topics.JOBS_SHARED.name(), junk, REPLAYED)).isSameAs(junk);
    byte[] control = "{}".getBytes(StandardCharsets.UTF_8);
    assertThat(DeadLetters.requeued(Topics.JOB_CONTROL.name(), control, REPLAYED))
        .isSameAs(control);
  }
}
