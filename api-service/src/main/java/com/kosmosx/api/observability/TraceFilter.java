package com.kosmosx.api.observability;

import com.kosmosx.runtime.Tracing;
import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import org.slf4j.MDC;

/**
 * Every request runs under a trace: the client's W3C {@code traceparent} when it sends a valid one
 * (so its traces and ours join), else a new one. It is in the MDC for the request's log lines, goes
 * with any job the request submits (Kafka header, see {@link Tracing}), and is answered in {@code
 * x-kosmos-trace-id} so a client can quote it. A malformed header is ignored, never refused.
 */
public final class TraceFilter implements Filter {
  public static final String RESPONSE_HEADER = "x-kosmos-trace-id";

  @Override
  public void doFilter(ServletRequest request, ServletResponse response, FilterChain chain)
      throws IOException, ServletException {
    String given =
        request instanceof HttpServletRequest http ? http.getHeader(Tracing.HEADER) : null;
    String traceId = Tracing.traceId(given);
    if (traceId == null) {
      traceId = Tracing.newTraceId();
    }
    if (response instanceof HttpServletResponse http) {
      http.setHeader(RESPONSE_HEADER, traceId);
    }
    MDC.put(Tracing.TRACE_ID, traceId);
    try {
      chain.doFilter(request, response);
    } finally {
      MDC.remove(Tracing.TRACE_ID);
    }
  }
}
