package com.kosmosx.contracts;

import java.time.Instant;
import java.util.Objects;

/**
 * A job accepted by the API, published (via the outbox) to a jobs lane. Key: the job id.
 *
 * @param jobId {@code job_…}
 * @param accountId owner; the usage event is billed to it
 * @param type text or image
 * @param lane the jobs lane ({@code shared} or a dedicated lane name)
 * @param input normalised input
 * @param submittedAt when the API accepted it (the 202)
 * @param deadline after this instant a job that has not started ends failed/expired, unbilled; null
 *     means no deadline
 */
public record JobRequest(
    String jobId,
    String accountId,
    JobType type,
    String lane,
    JobInput input,
    Instant submittedAt,
    Instant deadline) {

  public JobRequest {
    Objects.requireNonNull(jobId, "jobId");
    Objects.requireNonNull(accountId, "accountId");
    Objects.requireNonNull(type, "type");
    Objects.requireNonNull(input, "input");
  }
}
