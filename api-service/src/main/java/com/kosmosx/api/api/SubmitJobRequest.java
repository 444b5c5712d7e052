package com.kosmosx.api.api;

import java.util.List;
import java.util.Map;

/** {@code POST /v1/jobs} body. Unknown fields are refused (400), as are mistyped ones. */
public record SubmitJobRequest(
    String type,
    Input input,
    Webhook webhook,
    @com.fasterxml.jackson.databind.annotation.JsonDeserialize(
            using = com.kosmosx.api.errors.BorderJson.BoundedStringMap.class)
        Map<String, String> metadata) {

  /**
   * Where to deliver job events (Standard Webhooks); events: {@code started}, {@code completed}.
   */
  public record Webhook(String url, List<String> events) {}

  /**
   * The job input; text jobs use the prompt and the generation settings. {@code stream: true} asks
   * the worker to publish the text token by token for {@code GET /v1/jobs/{id}/events}; {@code
   * ignore_eos: true} generates to {@code max_tokens} (or a stop sequence) past the model's end.
   */
  public record Input(
      String prompt,
      Integer maxTokens,
      Double temperature,
      Double topP,
      List<String> stop,
      Long seed,
      String image,
      Boolean detectObjects,
      Boolean stream,
      Boolean ignoreEos) {
    public Input(
        String prompt,
        Integer maxTokens,
        Double temperature,
        Double topP,
        List<String> stop,
        Long seed,
        String image,
        Boolean detectObjects,
        Boolean stream) {
      this(prompt, maxTokens, temperature, topP, stop, seed, image, detectObjects, stream, null);
    }

    public Input(
        String prompt,
        Integer maxTokens,
        Double temperature,
        Double topP,
        List<String> stop,
        Long seed,
        String image,
        Boolean detectObjects) {
      this(prompt, maxTokens, temperature, topP, stop, seed, image, detectObjects, null, null);
    }
  }
}
