package com.kosmosx.api.jobs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.kosmosx.api.api.SubmitJobRequest;
import com.kosmosx.api.errors.ApiProblem;
import com.kosmosx.api.webhooks.WebhookUrlPolicy;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class JobValidatorTest {
  /** One token per character: enough to test the context arithmetic without a tokenizer. */
  private final JobValidator validator =
      new JobValidator(
          20_000, 256, String::length, new ImageNormalizer(), new WebhookUrlPolicy(Set.of()));

  private static SubmitJobRequest text(SubmitJobRequest.Input input) {
    return new SubmitJobRequest("text", input, null, null);
  }

  private static SubmitJobRequest.Input prompt(String p, Integer maxTokens) {
    return new SubmitJobRequest.Input(p, maxTokens, null, null, null, null, null, null);
  }

  @Test
  void aMinimalTextJobGetsTheDefaultMaxTokens() {
    var input = validator.validate(text(prompt("Hello", null)));
    assertThat(input.prompt()).isEqualTo("Hello");
    assertThat(input.maxTokens()).isEqualTo(256);
  }

  @Test
  void generationSettingsPassThrough() {
    var in = new SubmitJobRequest.Input("Hi", 5, 0.7, 0.9, List.of("\n\n"), 7L, null, null);
    var input = validator.validate(new SubmitJobRequest("text", in, null, Map.of("k", "v")));
    assertThat(input.temperature()).isEqualTo(0.7);
    assertThat(input.topP()).isEqualTo(0.9);
    assertThat(input.stop()).containsExactly("\n\n");
    assertThat(input.seed()).isEqualTo(7L);
  }

  @Test
  void rejectsEachInvalidFieldWithItsName() {
    assertField(null, null);
    assertField(new SubmitJobRequest(null, prompt("x", 1), null, null), "type");
    assertField(new SubmitJobRequest("video", prompt("x", 1), null, null), "type");
    assertField(new SubmitJobRequest("image", prompt("x", 1), null, null), "input.image");
    assertField(
        text(new SubmitJobRequest.Input("x", 1, null, null, null, null, "aGk=", null)),
        "input.image");
    assertField(new SubmitJobRequest("text", null, null, null), "input");
    assertField(text(prompt(null, 1)), "input.prompt");
    assertField(text(prompt("   ", 1)), "input.prompt");
    assertField(text(prompt("a\u0000b", 1)), "input.prompt");
    assertField(text(prompt("x".repeat(200_001), 1)), "input.prompt");
    assertField(text(prompt("x", 0)), "input.max_tokens");
    assertField(
        text(new SubmitJobRequest.Input("x", 1, 2.5, null, null, null, null, null)),
        "input.temperature");
    assertField(
        text(new SubmitJobRequest.Input("x", 1, null, 0.0, null, null, null, null)), "input.top_p");
    assertField(
        text(
            new SubmitJobRequest.Input(
                "x", 1, null, null, List.of("a", "b", "c", "d", "e"), null, null, null)),
        "input.stop");
    assertField(
        text(new SubmitJobRequest.Input("x", 1, null, null, List.of(""), null, null, null)),
        "input.stop");
    assertField(
        new SubmitJobRequest("text", prompt("x", 1), null, Map.of("k", "v".repeat(501))),
        "metadata");
  }

  @Test
  void aPromptPlusMaxTokensOverTheContextIsRefusedWithTheNumbers() {
    assertThat(validator.validate(text(prompt("x".repeat(19_000), 1_000))).maxTokens())
        .isEqualTo(1_000);
    assertThatThrownBy(() -> validator.validate(text(prompt("x".repeat(19_000), 1_001))))
        .isInstanceOfSatisfying(
            ApiProblem.class,
            p -> {
              assertThat(p.status()).isEqualTo(400);
              assertThat(p.code()).isEqualTo("context_length_exceeded");
              assertThat(p.extensions())
                  .containsEntry("max_context_tokens", 20_000)
                  .containsEntry("prompt_tokens", 19_000)
                  .containsEntry("max_tokens", 1_001);
            });
  }

  @Test
  void aMaxTokensPastTheWholeContextIsContextLengthExceededWithTheNumbers() {
    for (int maxTokens : new int[] {20_001, 30_000, Integer.MAX_VALUE}) {
      assertThatThrownBy(() -> validator.validate(text(prompt("x", maxTokens))))
          .isInstanceOfSatisfying(
              ApiProblem.class,
              p -> {
                assertThat(p.status()).isEqualTo(400);
                assertThat(p.code()).isEqualTo("context_length_exceeded");
                assertThat(p.extensions())
                    .containsEntry("max_context_tokens", 20_000)
                    .containsEntry("max_tokens", maxTokens);
              });
    }
  }

  private void assertField(SubmitJobRequest request, String field) {
    assertThatThrownBy(() -> validator.validate(request))
        .isInstanceOfSatisfying(
            ApiProblem.class,
            p -> {
              assertThat(p.status()).isEqualTo(400);
              assertThat(p.code()).isEqualTo("validation_failed");
              if (field != null) {
                assertThat(p.extensions()).containsEntry("field", field);
              }
            });
  }
}
