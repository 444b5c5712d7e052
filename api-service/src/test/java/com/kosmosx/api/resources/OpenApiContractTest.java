package com.kosmosx.api.resources;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.glassfish.jersey.server.model.Resource;
import org.glassfish.jersey.server.model.ResourceMethod;
import org.junit.jupiter.api.Test;

/** The hand-written OpenAPI document and the JAX-RS resources describe the same API. */
class OpenApiContractTest {
  private static final List<Class<?>> RESOURCES =
      List.of(
          AccountResource.class,
          ApiKeyResource.class,
          WebhookSecretResource.class,
          JobResource.class,
          SeedCompatResource.class,
          PingResource.class,
          AdminResource.class,
          UsageResource.class,
          DocsResource.class,
          FinanceResource.class,
          com.kosmosx.api.openai.OpenAiResource.class,
          com.kosmosx.api.openai.OpenAiResource.Models.class,
          com.kosmosx.api.openai.OpenAiResource.Completions.class);

  /** Swagger UI and the finance page are pages, not part of the API they use. */
  private static final Set<String> UNDOCUMENTED =
      Set.of("GET /docs", "GET /docs/{file}", "GET /finance", "GET /finance/{file}");

  /** Every error code of ../shared/docs/API.md ("Errors"). */
  private static final List<String> API_MD_CODES =
      List.of(
          "invalid_api_key",
          "forbidden",
          "not_found",
          "validation_failed",
          "context_length_exceeded",
          "invalid_image",
          "invalid_webhook_url",
          "payload_too_large",
          "unsupported_media_type",
          "conflict",
          "idempotency_key_reused",
          "rate_limited",
          "too_many_pending_jobs",
          "unavailable");

  @Test
  void everyResourceMethodIsDocumentedAndNothingElse() {
    Set<String> implemented = new TreeSet<>();
    for (Class<?> c : RESOURCES) {
      collect(Resource.from(c), "", implemented);
    }
    implemented.removeAll(UNDOCUMENTED);
    Set<String> documented = new TreeSet<>();
    JsonNode paths = DocsResource.load().path("paths");
    paths
        .fields()
        .forEachRemaining(
            p ->
                p.getValue()
                    .fieldNames()
                    .forEachRemaining(m -> documented.add(m.toUpperCase() + " " + p.getKey())));
    assertThat(implemented)
        .contains("POST /v1/jobs", "GET /v1/jobs/{id}", "DELETE /v1/api-keys/{id}");
    assertThat(implemented).hasSize(39);
    assertThat(documented).isEqualTo(implemented);
  }

  @Test
  void everyErrorCodeOfTheContractIsDocumented() {
    List<String> codes = new ArrayList<>();
    DocsResource.load()
        .path("components")
        .path("schemas")
        .path("Problem")
        .path("properties")
        .path("code")
        .path("enum")
        .forEach(n -> codes.add(n.asText()));
    assertThat(codes).containsAll(API_MD_CODES);
  }

  @Test
  void everyOperationHasAnIdAndResponses() {
    DocsResource.load()
        .path("paths")
        .forEach(
            p ->
                p.forEach(
                    op -> {
                      assertThat(op.path("operationId").asText()).isNotEmpty();
                      assertThat(op.path("responses").size()).isPositive();
                    }));
  }

  private static void collect(Resource r, String parent, Set<String> out) {
    String path = normalise(parent + "/" + (r.getPath() == null ? "" : r.getPath()));
    for (ResourceMethod m : r.getResourceMethods()) {
      out.add(m.getHttpMethod() + " " + path);
    }
    for (Resource child : r.getChildResources()) {
      collect(child, path, out);
    }
  }

  private static String normalise(String p) {
    String s = p.replaceAll("/+", "/");
    return s.length() > 1 && s.endsWith("/") ? s.substring(0, s.length() - 1) : s;
  }
}
