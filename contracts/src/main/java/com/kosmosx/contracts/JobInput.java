package com.kosmosx.contracts;

import java.util.List;

/**
 * The normalised input of a job as the worker receives it. Optional sampling fields are null when
 * the client left them out; the worker applies its defaults (greedy).
 *
 * @param prompt the text prompt (for image jobs, the text after the image)
 * @param maxTokens upper bound on generated tokens
 * @param temperature 0 or null means greedy decoding
 * @param topP nucleus sampling mass
 * @param stop stop sequences; generation ends before the first one produced
 * @param seed sampling seed for reproducible output
 * @param image the validated image, for image jobs
 * @param detectObjects image jobs: prefix {@code <grounding>} and return detected objects
 * @param stream publish token deltas to {@link Topics#JOB_STREAM} while generating (a streaming
 *     client is listening); null or false: only the terminal event carries the text
 * @param ignoreEos keep generating past the end-of-sequence token until {@code maxTokens} or a stop
 *     sequence (vLLM's {@code ignore_eos}: fixed output lengths for benchmarks and tests)
 */
public record JobInput(
    String prompt,
    int maxTokens,
    Double temperature,
    Double topP,
    List<String> stop,
    Long seed,
    ImageInput image,
    Boolean detectObjects,
    Boolean stream,
    Boolean ignoreEos) {

  public JobInput(
      String prompt,
      int maxTokens,
      Double temperature,
      Double topP,
      List<String> stop,
      Long seed,
      ImageInput image,
      Boolean detectObjects,
      Boolean stream) {
    this(prompt, maxTokens, temperature, topP, stop, seed, image, detectObjects, stream, null);
  }

  public JobInput(
      String prompt,
      int maxTokens,
      Double temperature,
      Double topP,
      List<String> stop,
      Long seed,
      ImageInput image,
      Boolean detectObjects) {
    this(prompt, maxTokens, temperature, topP, stop, seed, image, detectObjects, null, null);
  }

  public boolean streams() {
    return Boolean.TRUE.equals(stream);
  }

  public static JobInput text(String prompt, int maxTokens) {
    return new JobInput(prompt, maxTokens, null, null, null, null, null, null);
  }
}
