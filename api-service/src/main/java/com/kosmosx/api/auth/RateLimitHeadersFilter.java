package com.kosmosx.api.auth;

import com.kosmosx.api.accounts.Limits;
import com.kosmosx.api.accounts.RateLimiter;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.container.ContainerResponseContext;
import jakarta.ws.rs.container.ContainerResponseFilter;

/**
 * Adds {@code RateLimit-Limit}, {@code RateLimit-Remaining} and {@code RateLimit-Reset} (integer
 * seconds) to every answer to an API key: the state of that key's job-submission limit.
 */
public final class RateLimitHeadersFilter implements ContainerResponseFilter {
  public static final String DECISION = "kosmos.rate-limit-decision";
  private final Limits limits;

  public RateLimitHeadersFilter(Limits limits) {
    this.limits = limits;
  }

  @Override
  public void filter(ContainerRequestContext req, ContainerResponseContext res) {
    if (!(req.getSecurityContext().getUserPrincipal() instanceof Caller caller)
        || caller.keyId() == null) {
      return;
    }
    RateLimiter.Decision d =
        req.getProperty(DECISION) instanceof RateLimiter.Decision known
            ? known
            : limits.submissionState(caller);
    res.getHeaders().putSingle("RateLimit-Limit", d.limit());
    res.getHeaders().putSingle("RateLimit-Remaining", d.remaining());
    res.getHeaders().putSingle("RateLimit-Reset", d.resetSeconds());
  }
}
