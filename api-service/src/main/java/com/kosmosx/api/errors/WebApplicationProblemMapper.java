package com.kosmosx.api.errors;

import jakarta.ws.rs.WebApplicationException;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.ext.ExceptionMapper;

/** JAX-RS's own errors (unknown route, wrong method, wrong content type) as problem+json. */
public final class WebApplicationProblemMapper implements ExceptionMapper<WebApplicationException> {
  @Override
  public Response toResponse(WebApplicationException e) {
    int status = e.getResponse().getStatus();
    return switch (status) {
      case 404 -> Problem.response(404, "not_found", "Not found", "No such resource.");
      case 405 ->
          Problem.response(
              405, "method_not_allowed", "Method not allowed", "This method is not allowed here.");
      case 406 ->
          Problem.response(
              406, "not_acceptable", "Not acceptable", "This resource answers application/json.");
      case 413 ->
          Problem.response(
              413, "payload_too_large", "Payload too large", "The request body is too large.");
      case 415 ->
          Problem.response(
              415,
              "unsupported_media_type",
              "Unsupported media type",
              "Send the body as application/json.");
      default -> {
        if (status >= 500) {
          yield Problem.response(
              status, "unavailable", "Service unavailable", "Please retry later.");
        }
        yield Problem.response(status, "bad_request", "Bad request", "The request is invalid.");
      }
    };
  }
}
