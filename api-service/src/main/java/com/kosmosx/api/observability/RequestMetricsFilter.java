package com.kosmosx.api.observability;

import com.kosmosx.runtime.Metrics;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Histogram;
import jakarta.annotation.Priority;
import jakarta.ws.rs.Priorities;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.container.ContainerRequestFilter;
import jakarta.ws.rs.container.ContainerResponseContext;
import jakarta.ws.rs.container.ContainerResponseFilter;
import jakarta.ws.rs.container.PreMatching;
import jakarta.ws.rs.core.UriInfo;
import java.util.ArrayList;
import java.util.List;
import org.glassfish.jersey.server.ExtendedUriInfo;
import org.glassfish.jersey.uri.UriTemplate;

/**
 * Requests by route, method and status, and their time to the response headers. The route is the
 * matched template ({@code /v1/jobs/{id}}), never the raw path, so an attacker cannot mint series
 * by requesting random paths or methods: an unmatched request counts as {@code unmatched}, an
 * unknown method as {@code other}. For a stream the time is to its first byte; the stream's own
 * life is in the streaming metrics.
 */
@PreMatching
@Priority(Priorities.AUTHENTICATION - 500)
public final class RequestMetricsFilter implements ContainerRequestFilter, ContainerResponseFilter {
  private static final String START = RequestMetricsFilter.class.getName() + ".start";

  static final Counter REQUESTS =
      Metrics.counter(
          "kosmos_http_requests_total",
          "HTTP requests by matched route, method and status",
          "route",
          "method",
          "status");
  static final Histogram DURATION =
      Metrics.histogram(
          "kosmos_http_request_duration_seconds",
          "HTTP request time to the response headers, by matched route and method",
          Metrics.LATENCY_BUCKETS,
          "route",
          "method");

  /** Any other method a client makes up counts as {@code other}: no series per invented verb. */
  private static final java.util.Set<String> METHODS =
      java.util.Set.of("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS");

  @Override
  public void filter(ContainerRequestContext request) {
    request.setProperty(START, System.nanoTime());
  }

  @Override
  public void filter(ContainerRequestContext request, ContainerResponseContext response) {
    Object start = request.getProperty(START);
    String route = route(request.getUriInfo());
    String method = METHODS.contains(request.getMethod()) ? request.getMethod() : "other";
    REQUESTS.labelValues(route, method, Integer.toString(response.getStatus())).inc();
    if (start instanceof Long t0) {
      DURATION.labelValues(route, method).observe(Metrics.seconds(t0, System.nanoTime()));
    }
  }

  static String route(UriInfo info) {
    if (!(info instanceof ExtendedUriInfo ext)) {
      return "unmatched";
    }
    List<UriTemplate> templates = new ArrayList<>(ext.getMatchedTemplates());
    if (templates.isEmpty()) {
      return "unmatched";
    }
    StringBuilder route = new StringBuilder();
    for (int i = templates.size() - 1; i >= 0; i--) {
      String t = templates.get(i).getTemplate();
      if (t.isEmpty() || t.equals("/")) {
        continue;
      }
      if (!t.startsWith("/") && (route.length() == 0 || route.charAt(route.length() - 1) != '/')) {
        route.append('/');
      }
      route.append(t);
    }
    return route.length() == 0 ? "/" : route.toString();
  }
}
