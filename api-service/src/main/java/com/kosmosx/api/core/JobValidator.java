package com.kosmosx.api.core;

import com.kosmosx.api.api.SubmitJobRequest;
import com.kosmosx.api.errors.ApiProblem;
import com.kosmosx.contracts.JobInput;
import java.util.List;
import java.util.Map;

/**
 * Checks a submission against API.md and normalises it into the wire {@link JobInput}. Every
 * rejection is a 400 {@code validation_failed} that names the field.
 */
public final class JobValidator {
  static final int MAX_PROMPT_CHARS = 200_000;
  static final int MAX_STOP_SEQUENCES = 4;
  static final int MAX_STOP_CHARS = 64;
  static final int MAX_METADATA_KEYS = 16;
  static final int MAX_METADATA_KEY_CHARS = 40;
  static final int MAX_METADATA_VALUE_CHARS = 500;

  private final int maxContextTokens;
  private final int defaultMaxTokens;

  public JobValidator(int maxContextTokens, int defaultMaxTokens) {
    this.maxContextTokens = maxContextTokens;
    this.defaultMaxTokens = defaultMaxTokens;
  }

  public JobInput validate(SubmitJobRequest r) {
    if (r == null) {
      throw ApiProblem.validation("A JSON body is required.");
    }
    if (r.type() == null) {
      throw ApiProblem.validation("Field 'type' is required: \"text\" or \"image\".", "type");
    }
    if (r.type().equals("image")) {
      throw ApiProblem.validation(
          "Image jobs are not enabled on this deployment yet; submit type \"text\".", "type");
    }
    if (!r.type().equals("text")) {
      throw ApiProblem.validation("Field 'type' must be \"text\" or \"image\".", "type");
    }
    if (r.webhook() != null && !r.webhook().isNull()) {
      throw ApiProblem.validation(
          "Webhooks are not enabled on this deployment yet; poll the job instead.", "webhook");
    }
    checkMetadata(r.metadata());
    SubmitJobRequest.Input in = r.input();
    if (in == null) {
      throw ApiProblem.validation("Field 'input' is required.", "input");
    }
    if (in.image() != null || in.detectObjects() != null) {
      throw ApiProblem.validation(
          "Text jobs take no image fields ('image', 'detect_objects').", "input.image");
    }
    String prompt = in.prompt();
    if (prompt == null || prompt.isBlank()) {
      throw ApiProblem.validation(
          "Field 'input.prompt' is required and not blank.", "input.prompt");
    }
    if (prompt.length() > MAX_PROMPT_CHARS) {
      throw ApiProblem.validation(
          "Field 'input.prompt' is longer than " + MAX_PROMPT_CHARS + " characters.",
          "input.prompt");
    }
    if (prompt.indexOf('\u0000') >= 0) {
      throw ApiProblem.validation("Field 'input.prompt' contains a NUL character.", "input.prompt");
    }
    int maxTokens = in.maxTokens() == null ? defaultMaxTokens : in.maxTokens();
    if (maxTokens < 1 || maxTokens > maxContextTokens) {
      throw ApiProblem.validation(
          "Field 'input.max_tokens' must be between 1 and " + maxContextTokens + ".",
          "input.max_tokens");
    }
    Double temperature = in.temperature();
    if (temperature != null && (temperature.isNaN() || temperature < 0 || temperature > 2)) {
      throw ApiProblem.validation(
          "Field 'input.temperature' must be between 0 and 2.", "input.temperature");
    }
    Double topP = in.topP();
    if (topP != null && (topP.isNaN() || topP <= 0 || topP > 1)) {
      throw ApiProblem.validation(
          "Field 'input.top_p' must be greater than 0 and at most 1.", "input.top_p");
    }
    List<String> stop = in.stop();
    if (stop != null) {
      if (stop.size() > MAX_STOP_SEQUENCES) {
        throw ApiProblem.validation(
            "At most " + MAX_STOP_SEQUENCES + " stop sequences.", "input.stop");
      }
      for (String s : stop) {
        if (s == null || s.isEmpty() || s.length() > MAX_STOP_CHARS) {
          throw ApiProblem.validation(
              "Each stop sequence has 1 to " + MAX_STOP_CHARS + " characters.", "input.stop");
        }
      }
      stop = List.copyOf(stop);
    }
    return new JobInput(prompt, maxTokens, temperature, topP, stop, in.seed(), null, null);
  }

  private static void checkMetadata(Map<String, String> metadata) {
    if (metadata == null) {
      return;
    }
    if (metadata.size() > MAX_METADATA_KEYS) {
      throw ApiProblem.validation("At most " + MAX_METADATA_KEYS + " metadata keys.", "metadata");
    }
    for (var e : metadata.entrySet()) {
      if (e.getKey().isEmpty() || e.getKey().length() > MAX_METADATA_KEY_CHARS) {
        throw ApiProblem.validation(
            "Metadata keys have 1 to " + MAX_METADATA_KEY_CHARS + " characters.", "metadata");
      }
      if (e.getValue() == null || e.getValue().length() > MAX_METADATA_VALUE_CHARS) {
        throw ApiProblem.validation(
            "Metadata values are strings of at most " + MAX_METADATA_VALUE_CHARS + " characters.",
            "metadata");
      }
    }
  }
}
