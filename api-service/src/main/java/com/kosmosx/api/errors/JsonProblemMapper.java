package com.kosmosx.api.errors;

import com.fasterxml.jackson.core.JsonParseException;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.exc.ValueInstantiationException;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.ext.ExceptionMapper;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Malformed or mistyped JSON bodies become 400 {@code validation_failed} naming the field.
 * Jackson's own message is never echoed: it can quote the client's input back at length.
 */
public final class JsonProblemMapper implements ExceptionMapper<JsonProcessingException> {

  @Override
  public Response toResponse(JsonProcessingException e) {
    if (e instanceof StreamConstraintsException) {
      return Problem.response(
          413, "payload_too_large", "Payload too large", "A JSON value exceeds the size limits.");
    }
    if (e instanceof JsonParseException) {
      return Problem.response(
          400,
          "validation_failed",
          "Malformed JSON",
          "The request body is not valid JSON (line "
              + e.getLocation().getLineNr()
              + ", column "
              + e.getLocation().getColumnNr()
              + ").");
    }
    if (e instanceof JsonMappingException m) {
      String field = path(m);
      String detail;
      if (e instanceof BorderJson.Refused) {
        detail = e.getOriginalMessage();
      } else if (e instanceof UnrecognizedPropertyException u) {
        detail = "Unknown field '" + field + "'.";
      } else if (e instanceof ValueInstantiationException v && v.getCause() != null) {
        detail = safe(v.getCause().getMessage());
      } else if (e instanceof InvalidFormatException || e instanceof MismatchedInputException) {
        detail =
            field.isEmpty()
                ? "The request body has the wrong shape."
                : "Field '" + field + "' has the wrong type or format.";
      } else {
        detail = "The request body could not be read.";
      }
      return Problem.response(
          400,
          "validation_failed",
          "Validation failed",
          detail,
          field.isEmpty() ? Map.of() : Map.of("field", field));
    }
    return Problem.response(
        400, "validation_failed", "Validation failed", "The request body could not be read.");
  }

  private static String path(JsonMappingException e) {
    return e.getPath().stream()
        .map(r -> r.getFieldName() != null ? r.getFieldName() : "[" + r.getIndex() + "]")
        .collect(Collectors.joining("."))
        .replace(".[", "[");
  }

  private static String safe(String s) {
    if (s == null) {
      return "The request body is invalid.";
    }
    return s.length() > 200 ? s.substring(0, 200) : s;
  }
}
