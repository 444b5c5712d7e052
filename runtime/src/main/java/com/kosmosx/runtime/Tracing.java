package com.kosmosx.runtime;

import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import java.util.regex.Pattern;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.slf4j.MDC;

/**
 * A job's trace id, from the HTTP request that submitted it to every record about it: W3C Trace
 * Context's {@code traceparent} (a client's own, when it sends one, so its traces and ours join),
 * carried as a Kafka header from the API to the worker and back. Log lines about a job carry it
 * with the job id, account id and lane as MDC fields ({@code trace_id}, {@code job_id}, {@code
 * account_id}, {@code lane}); with {@code KOSMOS_LOG_FORMAT=json} each line is one JSON object, so
 * {@code grep <trace id> logs/*.log} follows one job across processes.
 */
public final class Tracing {
  /** The HTTP and Kafka header (W3C Trace Context). */
  public static final String HEADER = "traceparent";

  public static final String TRACE_ID = "trace_id";
  public static final String JOB_ID = "job_id";
  public static final String ACCOUNT_ID = "account_id";
  public static final String LANE = "lane";

  private static final Pattern TRACEPARENT =
      Pattern.compile("[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}");
  private static final String INVALID = "0".repeat(32);
  private static final SecureRandom RANDOM = new SecureRandom();

  private Tracing() {}

  /** The trace id of a {@code traceparent} value, or null when it is absent or malformed. */
  public static String traceId(String traceparent) {
    if (traceparent == null || traceparent.length() > 64) {
      return null;
    }
    var m = TRACEPARENT.matcher(traceparent.trim());
    if (!m.matches() || m.group(1).equals(INVALID) || m.group(2).equals("0".repeat(16))) {
      return null;
    }
    return m.group(1);
  }

  public static String newTraceId() {
    byte[] b = new byte[16];
    RANDOM.nextBytes(b);
    return HexFormat.of().formatHex(b);
  }

  /** A {@code traceparent} for a new span of the trace. */
  public static String traceparent(String traceId) {
    byte[] span = new byte[8];
    RANDOM.nextBytes(span);
    return "00-" + traceId + "-" + HexFormat.of().formatHex(span) + "-01";
  }

  /** The trace id a record carries, or null. */
  public static String traceId(Headers headers) {
    if (headers == null) {
      return null;
    }
    Header h = headers.lastHeader(HEADER);
    return h == null || h.value() == null
        ? null
        : traceId(new String(h.value(), StandardCharsets.UTF_8));
  }

  /** Adds the trace to a record's headers (nothing when {@code traceId} is null). */
  public static Headers addTo(Headers headers, String traceId) {
    if (traceId != null) {
      headers.remove(HEADER);
      headers.add(HEADER, traceparent(traceId).getBytes(StandardCharsets.UTF_8));
    }
    return headers;
  }

  /** Sets the job's MDC fields until closed, then restores what was there. */
  public static Scope job(String jobId, String accountId, String lane, String traceId) {
    Map<String, String> previous = new HashMap<>();
    for (String k : new String[] {JOB_ID, ACCOUNT_ID, LANE, TRACE_ID}) {
      previous.put(k, MDC.get(k));
    }
    put(JOB_ID, jobId);
    put(ACCOUNT_ID, accountId);
    put(LANE, lane);
    put(TRACE_ID, traceId);
    return () -> previous.forEach(Tracing::put);
  }

  private static void put(String key, String value) {
    if (value == null) {
      MDC.remove(key);
    } else {
      MDC.put(key, value);
    }
  }

  /** An MDC scope: closing it never throws. */
  @FunctionalInterface
  public interface Scope extends AutoCloseable {
    @Override
    void close();
  }
}
