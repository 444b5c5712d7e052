package com.kosmosx.api.openai;

import com.fasterxml.jackson.databind.node.ObjectNode;
import com.kosmosx.api.errors.Problem;
import com.kosmosx.contracts.Json;
import jakarta.annotation.Priority;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.container.ContainerResponseContext;
import jakarta.ws.rs.container.ContainerResponseFilter;
import jakarta.ws.rs.core.MediaType;
import java.util.Map;

/**
 * On the OpenAI-compatible routes, every error (ours, the auth filter's, Jersey's 404/405/415)
 * leaves in OpenAI's shape {@code {"error": {"message", "type", "param", "code"}}} instead of
 * problem+json, with the field named as the client named it; and the rate-limit headers also go out
 * under OpenAI's names. Runs after the rate-limit headers filter (lower priority runs later).
 */
@Priority(4000)
public final class OpenAiErrorFilter implements ContainerResponseFilter {

  /** Whether a request path (Jersey's, without the leading slash) is an OpenAI route. */
  public static boolean openAiPath(String path) {
    String p = path.startsWith("/") ? path.substring(1) : path;
    return p.equals("v1/chat/completions")
        || p.equals("v1/completions")
        || p.equals("v1/models")
        || p.startsWith("v1/models/");
  }

  /** Our field names, as the OpenAI request names them. */
  private static final Map<String, String> PARAMS =
      Map.of(
          "input.max_tokens", "max_tokens",
          "input.temperature", "temperature",
          "input.top_p", "top_p",
          "input.stop", "stop",
          "input.seed", "seed",
          "input.detect_objects", "detect_objects",
          "input.image", "messages",
          "metadata", "metadata");

  @Override
  public void filter(ContainerRequestContext req, ContainerResponseContext res) {
    String path = req.getUriInfo().getPath();
    if (!openAiPath(path)) {
      return;
    }
    var h = res.getHeaders();
    copy(h, "RateLimit-Limit", "x-ratelimit-limit-requests", "");
    copy(h, "RateLimit-Remaining", "x-ratelimit-remaining-requests", "");
    copy(h, "RateLimit-Reset", "x-ratelimit-reset-requests", "s");
    if (!(res.getEntity() instanceof Problem p)) {
      return;
    }
    boolean chat = path.contains("chat");
    Object field = p.extensions() == null ? null : p.extensions().get("field");
    String param = field == null ? null : field.toString();
    if (param != null) {
      param =
          param.equals("input.prompt")
              ? (chat ? "messages" : "prompt")
              : PARAMS.getOrDefault(param, param);
    } else if ("context_length_exceeded".equals(p.code())) {
      param = chat ? "messages" : "prompt";
    }
    String code = "rate_limited".equals(p.code()) ? "rate_limit_exceeded" : p.code();
    res.setEntity(error(p.status(), code, p.detail() == null ? p.title() : p.detail(), param));
    h.putSingle("Content-Type", MediaType.APPLICATION_JSON);
  }

  private static void copy(
      jakarta.ws.rs.core.MultivaluedMap<String, Object> h, String from, String to, String unit) {
    Object v = h.getFirst(from);
    if (v != null) {
      h.putSingle(to, v + unit);
    }
  }

  /** OpenAI's error body. */
  public static ObjectNode error(int status, String code, String message, String param) {
    ObjectNode body = Json.mapper().createObjectNode();
    ObjectNode e = body.putObject("error");
    e.put("message", message);
    e.put("type", type(status));
    if (param == null) {
      e.putNull("param");
    } else {
      e.put("param", param);
    }
    if (code == null) {
      e.putNull("code");
    } else {
      e.put("code", code);
    }
    return body;
  }

  /** OpenAI's error types by status. */
  static String type(int status) {
    if (status == 429) {
      return "rate_limit_error";
    }
    if (status == 401) {
      return "authentication_error";
    }
    if (status == 403) {
      return "permission_error";
    }
    if (status >= 500) {
      return "server_error";
    }
    return "invalid_request_error";
  }
}
