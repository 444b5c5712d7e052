package com.kosmosx.api.jobs;

import com.kosmosx.api.api.SubmitJobRequest;
import com.kosmosx.api.errors.ApiProblem;
import com.kosmosx.api.errors.BorderJson;
import com.kosmosx.api.webhooks.WebhookUrlPolicy;
import com.kosmosx.contracts.ImageInput;
import com.kosmosx.contracts.JobInput;
import java.util.List;
import java.util.Map;
import java.util.function.ToIntFunction;

/**
 * Checks a submission against API.md and normalises it into the wire {@link JobInput}. A field
 * error is a 400 {@code validation_failed} that names the field; a prompt that does not fit is
 * {@code context_length_exceeded} with the numbers (counted by the model's tokenizer); an image
 * that does not decode is {@code invalid_image}.
 */
public final class JobValidator {
  static final int MAX_PROMPT_CHARS = 200_000;
  static final int MAX_STOP_SEQUENCES = 4;
  static final int MAX_STOP_CHARS = 64;
  // The same bounds the REST reader enforces while the body streams; checked here too for
  // requests built in code (the seed route, multipart parts, tests).
  static final int MAX_METADATA_KEYS = BorderJson.BoundedStringMap.MAX_ENTRIES;
  static final int MAX_METADATA_KEY_CHARS = BorderJson.BoundedStringMap.MAX_KEY_CHARS;
  static final int MAX_METADATA_VALUE_CHARS = BorderJson.BoundedStringMap.MAX_VALUE_CHARS;

  /** Prompt of an image job that gives none: Kosmos-2's captioning prompt. */
  static final String DEFAULT_IMAGE_PROMPT = "An image of";

  private final int maxContextTokens;
  private final int defaultMaxTokens;
  private final ToIntFunction<String> tokens;
  private final ImageNormalizer images;
  private final WebhookUrlPolicy webhooks;

  /**
   * @param tokens counts a prompt's tokens as the worker will (the model's tokenizer)
   */
  public JobValidator(
      int maxContextTokens,
      int defaultMaxTokens,
      ToIntFunction<String> tokens,
      ImageNormalizer images,
      WebhookUrlPolicy webhooks) {
    this.maxContextTokens = maxContextTokens;
    this.defaultMaxTokens = defaultMaxTokens;
    this.tokens = tokens;
    this.images = images;
    this.webhooks = webhooks;
  }

  /** The normalised webhook (events default to completed, sorted, distinct), or null. */
  public SubmitJobRequest.Webhook webhook(SubmitJobRequest.Webhook w) {
    if (w == null) {
      return null;
    }
    List<String> events = w.events() == null ? List.of("completed") : w.events();
    if (events.isEmpty()
        || events.stream().anyMatch(e -> !"started".equals(e) && !"completed".equals(e))) {
      throw ApiProblem.validation(
          "Field 'webhook.events' lists \"started\" and/or \"completed\".", "webhook.events");
    }
    webhooks.check(w.url());
    return new SubmitJobRequest.Webhook(w.url(), events.stream().distinct().sorted().toList());
  }

  public JobInput validate(SubmitJobRequest r) {
    return validate(r, null);
  }

  /**
   * @param upload the image file of a multipart submission, or null
   */
  public JobInput validate(SubmitJobRequest r, byte[] upload) {
    if (r == null) {
      throw ApiProblem.validation("A JSON body is required.");
    }
    if (r.type() == null) {
      throw ApiProblem.validation("Field 'type' is required: \"text\" or \"image\".", "type");
    }
    if (!r.type().equals("text") && !r.type().equals("image")) {
      throw ApiProblem.validation("Field 'type' must be \"text\" or \"image\".", "type");
    }
    boolean image = r.type().equals("image");
    checkMetadata(r.metadata());
    SubmitJobRequest.Input in = r.input();
    if (in == null) {
      throw ApiProblem.validation("Field 'input' is required.", "input");
    }
    ImageInput picture = null;
    if (!image) {
      if (in.image() != null || in.detectObjects() != null || upload != null) {
        throw ApiProblem.validation(
            "Text jobs take no image fields ('image', 'detect_objects').", "input.image");
      }
    } else {
      if (in.image() != null && upload != null) {
        throw ApiProblem.validation(
            "Send the image either as 'input.image' or as the multipart 'image' part, not both.",
            "input.image");
      }
      if (in.image() == null && upload == null) {
        throw ApiProblem.validation(
            "Field 'input.image' is required for image jobs (base64 or a data: URL), or send"
                + " multipart/form-data with an 'image' part.",
            "input.image");
      }
    }
    String prompt = in.prompt();
    if (image && prompt == null) {
      prompt = DEFAULT_IMAGE_PROMPT;
    }
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
    // Only the lower bound is a field error: a max_tokens past the context is reported with the
    // prompt's size below, as context_length_exceeded, so the client learns what fits.
    if (maxTokens < 1) {
      throw ApiProblem.validation(
          "Field 'input.max_tokens' must be at least 1.", "input.max_tokens");
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
    int promptTokens = tokens.applyAsInt(prompt);
    if ((long) promptTokens + maxTokens > maxContextTokens) {
      throw new ApiProblem(
          400,
          "context_length_exceeded",
          "Context length exceeded",
          "The prompt has "
              + promptTokens
              + " tokens and max_tokens is "
              + maxTokens
              + "; together they exceed the "
              + maxContextTokens
              + "-token context.",
          Map.of(
              "max_context_tokens",
              maxContextTokens,
              "prompt_tokens",
              promptTokens,
              "max_tokens",
              maxTokens));
    }
    if (image) {
      // Last: decoding is the expensive check, done once every cheap one has passed.
      picture = images.normalize(upload != null ? upload : ImageNormalizer.fromBase64(in.image()));
    }
    return new JobInput(
        prompt,
        maxTokens,
        temperature,
        topP,
        stop,
        in.seed(),
        picture,
        image ? (in.detectObjects() == null ? Boolean.TRUE : in.detectObjects()) : null,
        Boolean.TRUE.equals(in.stream()) ? Boolean.TRUE : null,
        Boolean.TRUE.equals(in.ignoreEos()) ? Boolean.TRUE : null);
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
