package com.kosmosx.api.errors;

import com.fasterxml.jackson.annotation.JsonAnyGetter;
import com.fasterxml.jackson.annotation.JsonInclude;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.util.Map;

/** The problem+json body (RFC 9457) with the stable {@code code} member and extensions. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record Problem(
    String type,
    String title,
    int status,
    String detail,
    String code,
    @com.fasterxml.jackson.annotation.JsonIgnore Map<String, Object> extensions) {

  public static final MediaType MEDIA_TYPE = new MediaType("application", "problem+json");
  private static final String TYPE_BASE = "https://docs.kosmosx.ai/errors/";

  @JsonAnyGetter
  public Map<String, Object> any() {
    return extensions;
  }

  public static Response response(int status, String code, String title, String detail) {
    return response(status, code, title, detail, Map.of());
  }

  public static Response response(
      int status, String code, String title, String detail, Map<String, Object> ext) {
    return Response.status(status)
        .type(MEDIA_TYPE)
        .entity(new Problem(TYPE_BASE + code, title, status, detail, code, ext))
        .build();
  }

  public static Response of(ApiProblem p) {
    return response(p.status(), p.code(), p.title(), p.getMessage(), p.extensions());
  }
}
