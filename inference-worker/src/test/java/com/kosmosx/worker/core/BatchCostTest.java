package com.kosmosx.worker.core;

import static org.assertj.core.api.Assertions.assertThat;

import com.kosmosx.contracts.ImageInput;
import com.kosmosx.contracts.JobInput;
import com.kosmosx.contracts.JobRequest;
import com.kosmosx.contracts.JobType;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/** The KV-cache bound a job counts against the batch's token budget. */
class BatchCostTest {
  private static JobRequest job(JobType type, JobInput in) {
    return new JobRequest("job_1", "acc_1", type, "shared", in, Instant.EPOCH, null);
  }

  @Test
  void maxTokensCountAndAnImagesBytesDoNot() {
    // A short prompt asking for 20,000 tokens needs 20,000 cache columns, not a few bytes.
    assertThat(BatchAssembler.cost(job(JobType.TEXT, JobInput.text("hi", 20_000))))
        .isEqualTo(1 + 2 + 20_000);
    // A 700 KB image is a fixed block of 64 embeddings plus its tags, whatever its size.
    ImageInput image = new ImageInput("A".repeat(700_000), 640, 480, "png", "x");
    JobInput withImage = new JobInput("An image of", 64, null, null, null, null, image, true);
    assertThat(BatchAssembler.cost(job(JobType.IMAGE, withImage)))
        .isEqualTo(1 + 11 + BatchAssembler.IMAGE_BLOCK_TOKENS + 64);
    // 16 such image jobs fit the default budget of 65,536 slots, so they batch together.
    assertThat(16 * BatchAssembler.cost(job(JobType.IMAGE, withImage))).isLessThan(65_536);
    assertThat(BatchAssembler.cost(null)).isEqualTo(1);
  }
}
