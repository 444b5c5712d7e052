package com.kosmosx.runtime;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.sql.SQLException;
import java.sql.SQLTransientException;
import org.apache.kafka.common.errors.AuthenticationException;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.errors.UnsupportedVersionException;

/**
 * The three-way error split of Kafka's consumer examples, in one place.
 *
 * <ul>
 *   <li><b>fatal</b>: retrying cannot help (a JVM {@link Error}, credentials or ACLs refused, a
 *       broker too old, or {@link Fatal} thrown by a loop): the loop stops and reports unhealthy.
 *   <li><b>poison</b>: one record or row is at fault (data the database refuses: SQLState classes
 *       22 and 23, a message Kafka refuses for itself): the loop quarantines it and moves on.
 *   <li><b>transient</b>: everything else (a peer away, a connection lost, a timeout, and any
 *       exception nobody classified): back off and try again.
 * </ul>
 */
public final class Failures {
  private Failures() {}

  /** Thrown by a loop body that knows it cannot go on. */
  public static final class Fatal extends RuntimeException {
    public Fatal(String message, Throwable cause) {
      super(message, cause);
    }
  }

  public static boolean fatal(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
      if (c instanceof Error
          || c instanceof Fatal
          || c instanceof AuthenticationException
          || c instanceof AuthorizationException
          || c instanceof UnsupportedVersionException) {
        return true;
      }
    }
    return false;
  }

  /**
   * True when the failure belongs to one record or row (retrying it alone fails the same way),
   * false when the peer or the connection is at fault.
   */
  public static boolean poison(Throwable t) {
    if (fatal(t)) {
      return false;
    }
    for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
      if (c instanceof SQLTransientException
          || c instanceof RetriableException
          || c instanceof IOException
          || c instanceof UncheckedIOException) {
        return false;
      }
      if (c instanceof SQLException sql) {
        String state = sql.getSQLState();
        if (state != null && (state.startsWith("22") || state.startsWith("23"))) {
          return true;
        }
      }
      if (c instanceof org.apache.kafka.common.errors.RecordTooLargeException
          || c instanceof org.apache.kafka.common.errors.InvalidTopicException
          || c instanceof org.apache.kafka.common.errors.SerializationException) {
        return true;
      }
    }
    return false;
  }

  /** A short description for logs, health and the quarantine: class and message, bounded. */
  public static String describe(Throwable t) {
    Throwable root = t;
    while (root.getCause() != null && root.getCause() != root) {
      root = root.getCause();
    }
    String s =
        root == t
            ? t.toString()
            : t.getClass().getSimpleName() + ": " + t.getMessage() + " (cause: " + root + ")";
    return s.length() > 500 ? s.substring(0, 500) : s;
  }
}
