package com.kosmosx.api.errors;

import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.ext.ExceptionMapper;
import java.util.Map;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Last resort: a bug or an outage becomes a 500 problem with an error id that also appears in the
 * log line, so support can find it; nothing of the exception reaches the client.
 */
public final class UnexpectedProblemMapper implements ExceptionMapper<Throwable> {
  private static final Logger LOG = LoggerFactory.getLogger(UnexpectedProblemMapper.class);

  @Override
  public Response toResponse(Throwable e) {
    return internalError(LOG, "unexpected error {}", e);
  }

  /** The 500 body, with an error id logged by {@code log} together with {@code e}. */
  static Response internalError(Logger log, String message, Throwable e) {
    String errorId = UUID.randomUUID().toString();
    log.error(message, errorId, e);
    return Problem.response(
        500,
        "internal_error",
        "Internal error",
        "Something went wrong on our side; quote the error_id to support.",
        Map.of("error_id", errorId));
  }
}
