package com.kosmosx.api.auth;

import com.kosmosx.api.errors.ApiProblem;
import jakarta.annotation.Priority;
import jakarta.ws.rs.Priorities;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.container.ContainerRequestFilter;
import jakarta.ws.rs.core.HttpHeaders;
import jakarta.ws.rs.core.SecurityContext;
import java.security.Principal;

/** Accepts {@code Authorization: Bearer <key>} or {@code X-API-Key: <key>}; 401 otherwise. */
@ApiKeyRequired
@Priority(Priorities.AUTHENTICATION)
public final class ApiKeyAuthFilter implements ContainerRequestFilter {
  private final ApiKeyAuthenticator authenticator;

  public ApiKeyAuthFilter(ApiKeyAuthenticator authenticator) {
    this.authenticator = authenticator;
  }

  @Override
  public void filter(ContainerRequestContext ctx) {
    String key = extract(ctx);
    Caller caller = authenticator.authenticate(key).orElseThrow(ApiProblem::invalidApiKey);
    boolean secure = ctx.getSecurityContext().isSecure();
    ctx.setSecurityContext(
        new SecurityContext() {
          @Override
          public Principal getUserPrincipal() {
            return caller;
          }

          @Override
          public boolean isUserInRole(String role) {
            return caller.role().name().equalsIgnoreCase(role);
          }

          @Override
          public boolean isSecure() {
            return secure;
          }

          @Override
          public String getAuthenticationScheme() {
            return "Bearer";
          }
        });
  }

  static String extract(ContainerRequestContext ctx) {
    String auth = ctx.getHeaderString(HttpHeaders.AUTHORIZATION);
    if (auth != null && auth.regionMatches(true, 0, "Bearer ", 0, 7)) {
      return auth.substring(7).trim();
    }
    String header = ctx.getHeaderString("X-API-Key");
    return header == null ? null : header.trim();
  }
}
