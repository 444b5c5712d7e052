package com.kosmosx.api.auth;

import com.kosmosx.api.accounts.Limits;
import jakarta.ws.rs.Priorities;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.container.ContainerRequestFilter;
import jakarta.ws.rs.container.DynamicFeature;
import jakarta.ws.rs.container.ResourceInfo;
import jakarta.ws.rs.core.FeatureContext;

/**
 * Counts a job submission against the caller's account limit for every {@link AdmitsSubmission}
 * method, after the caller is known and before any of the body (up to 28 MiB of image) is read:
 * over the limit is 429 at the cost of the headers alone.
 */
public final class SubmissionAdmission implements DynamicFeature {
  private final Limits limits;

  public SubmissionAdmission(Limits limits) {
    this.limits = limits;
  }

  @Override
  public void configure(ResourceInfo info, FeatureContext context) {
    if (info.getResourceMethod().isAnnotationPresent(AdmitsSubmission.class)) {
      context.register(new Filter(limits), Priorities.AUTHORIZATION + 10);
    }
  }

  private static final class Filter implements ContainerRequestFilter {
    private final Limits limits;

    Filter(Limits limits) {
      this.limits = limits;
    }

    @Override
    public void filter(ContainerRequestContext ctx) {
      Caller caller = (Caller) ctx.getSecurityContext().getUserPrincipal();
      ctx.setProperty(RateLimitHeadersFilter.DECISION, limits.admitSubmission(caller));
    }
  }
}
