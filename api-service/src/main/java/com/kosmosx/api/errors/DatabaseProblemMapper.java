package com.kosmosx.api.errors;

import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.ext.ExceptionMapper;
import java.sql.SQLException;
import java.sql.SQLTransientException;
import java.util.Map;
import org.jdbi.v3.core.ConnectionException;
import org.jdbi.v3.core.JdbiException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Database failures as problem+json, in place of the Dropwizard JDBI bundle's {@code
 * {"code":500,"message":…}}: the database unreachable, restarting or out of connections is 503
 * {@code unavailable} with {@code Retry-After} (the client's request was fine; try again); a value
 * the database refuses to hold is a 400; anything else is our bug, a 500 with an error id. Nothing
 * of the SQL or the driver's message reaches the client.
 */
public final class DatabaseProblemMapper implements ExceptionMapper<JdbiException> {
  private static final Logger LOG = LoggerFactory.getLogger(DatabaseProblemMapper.class);
  static final String RETRY_AFTER_SECONDS = "2";

  @Override
  public Response toResponse(JdbiException e) {
    return map(e);
  }

  /** Shared with the mapper of bare {@link SQLException}s. */
  static Response map(Exception e) {
    SQLException sql = sqlCause(e);
    String state = sql == null ? null : sql.getSQLState();
    if (unavailable(e, sql, state)) {
      LOG.warn("database unavailable: {}", e.toString());
      return Response.fromResponse(
              Problem.response(
                  503,
                  "unavailable",
                  "Service unavailable",
                  "The service cannot reach its database right now; retry shortly.",
                  Map.of("retry_after_seconds", Integer.parseInt(RETRY_AFTER_SECONDS))))
          .header("Retry-After", RETRY_AFTER_SECONDS)
          .build();
    }
    if (state != null && state.startsWith("22")) {
      // Data exceptions: a value out of the column's range or a character it cannot hold. The
      // border should have refused it; say so without quoting it back.
      LOG.warn("database refused a value (SQLState {})", state);
      return Problem.response(
          400,
          "validation_failed",
          "Validation failed",
          "A value in the request is out of the range this service stores.");
    }
    return UnexpectedProblemMapper.internalError(
        LOG, "unexpected database error {} (SQLState " + state + ")", e);
  }

  /**
   * Connection failures (SQLState class 08), the server shutting down or restarting (57P), out of
   * resources (53), serialization failures and deadlocks (40001, 40P01), a pool that found no
   * connection in time, and JDBI's own connection errors.
   */
  static boolean unavailable(Exception e, SQLException sql, String state) {
    if (e instanceof ConnectionException || sql instanceof SQLTransientException) {
      return true;
    }
    if (state == null) {
      return false;
    }
    return state.startsWith("08")
        || state.startsWith("57P")
        || state.startsWith("53")
        || state.equals("40001")
        || state.equals("40P01");
  }

  static SQLException sqlCause(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof SQLException s) {
        return s;
      }
      if (t.getCause() == t) {
        break;
      }
    }
    return null;
  }

  /** The same rules for a {@link SQLException} thrown outside JDBI (plain JDBC paths). */
  public static final class Sql implements ExceptionMapper<SQLException> {
    @Override
    public Response toResponse(SQLException e) {
      return map(e);
    }
  }
}
