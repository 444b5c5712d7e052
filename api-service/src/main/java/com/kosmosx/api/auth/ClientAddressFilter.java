package com.kosmosx.api.auth;

import jakarta.annotation.Priority;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.container.ContainerRequestFilter;
import jakarta.ws.rs.container.PreMatching;
import jakarta.ws.rs.core.Context;

/**
 * Records the client's address for the per-IP limits (sign-ups, failed passwords). The socket's
 * peer is used: an X-Forwarded-For header is only as trustworthy as the proxy that sets it, which
 * this service cannot know, so it is ignored.
 */
@PreMatching
@Priority(100)
public final class ClientAddressFilter implements ContainerRequestFilter {
  public static final String PROPERTY = "kosmos.client-address";

  @Context private HttpServletRequest request;

  @Override
  public void filter(ContainerRequestContext ctx) {
    String addr = request == null ? null : request.getRemoteAddr();
    ctx.setProperty(PROPERTY, addr == null ? "unknown" : addr);
  }

  public static String of(ContainerRequestContext ctx) {
    Object a = ctx.getProperty(PROPERTY);
    return a == null ? "unknown" : a.toString();
  }
}
