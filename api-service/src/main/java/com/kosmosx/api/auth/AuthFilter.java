package com.kosmosx.api.auth;

import com.kosmosx.api.errors.ApiProblem;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.container.ContainerRequestFilter;
import jakarta.ws.rs.core.HttpHeaders;
import jakarta.ws.rs.core.SecurityContext;
import java.nio.charset.StandardCharsets;
import java.security.Principal;
import java.util.Base64;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Authenticates a request with the schemes its resource accepts: 401 for missing or bad
 * credentials, 403 for a valid caller whose role does not fit.
 */
public final class AuthFilter implements ContainerRequestFilter {
  private final Set<Authenticated.Scheme> schemes;
  private final Set<Caller.Role> roles;
  private final ApiKeyAuthenticator keys;
  private final BasicAuthenticator basic;

  AuthFilter(
      Set<Authenticated.Scheme> schemes,
      Set<Caller.Role> roles,
      ApiKeyAuthenticator keys,
      BasicAuthenticator basic) {
    this.schemes = schemes;
    this.roles = roles;
    this.keys = keys;
    this.basic = basic;
  }

  @Override
  public void filter(ContainerRequestContext ctx) {
    Caller caller = authenticate(ctx).orElseThrow(this::unauthorized);
    if (!roles.contains(caller.role())) {
      throw new ApiProblem(
          403, "forbidden", "Forbidden", "Your account's role does not allow this call.");
    }
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
            return caller.keyId() == null ? SecurityContext.BASIC_AUTH : "Bearer";
          }
        });
  }

  private Optional<Caller> authenticate(ContainerRequestContext ctx) {
    String auth = ctx.getHeaderString(HttpHeaders.AUTHORIZATION);
    if (auth != null && auth.regionMatches(true, 0, "Basic ", 0, 6)) {
      if (!schemes.contains(Authenticated.Scheme.BASIC)) {
        return Optional.empty();
      }
      String[] userPass = decodeBasic(auth.substring(6).trim());
      if (userPass == null) {
        return Optional.empty();
      }
      return basic.authenticate(userPass[0], userPass[1], ClientAddressFilter.of(ctx));
    }
    if (!schemes.contains(Authenticated.Scheme.API_KEY)) {
      return Optional.empty();
    }
    String key = null;
    if (auth != null && auth.regionMatches(true, 0, "Bearer ", 0, 7)) {
      key = auth.substring(7).trim();
    } else if (ctx.getHeaderString("X-API-Key") != null) {
      key = ctx.getHeaderString("X-API-Key").trim();
    }
    return keys.authenticate(key);
  }

  static String[] decodeBasic(String encoded) {
    try {
      String s = new String(Base64.getDecoder().decode(encoded), StandardCharsets.UTF_8);
      int colon = s.indexOf(':');
      return colon < 0 ? null : new String[] {s.substring(0, colon), s.substring(colon + 1)};
    } catch (IllegalArgumentException e) {
      return null;
    }
  }

  private ApiProblem unauthorized() {
    boolean basicOnly = !schemes.contains(Authenticated.Scheme.API_KEY);
    // RFC 9110: a 401 names the schemes that would work.
    String challenge =
        basicOnly
            ? "Basic realm=\"kosmos\", charset=\"UTF-8\""
            : schemes.contains(Authenticated.Scheme.BASIC)
                ? "Bearer realm=\"kosmos\", Basic realm=\"kosmos\", charset=\"UTF-8\""
                : "Bearer realm=\"kosmos\"";
    return unauthorizedProblem(basicOnly).withHeader("WWW-Authenticate", challenge);
  }

  private ApiProblem unauthorizedProblem(boolean basicOnly) {
    return new ApiProblem(
        401,
        basicOnly ? "invalid_credentials" : "invalid_api_key",
        basicOnly ? "Invalid credentials" : "Invalid API key",
        basicOnly
            ? "This call takes your username and password as HTTP Basic credentials."
            : schemes.contains(Authenticated.Scheme.BASIC)
                ? "Provide an API key ('Authorization: Bearer <key>' or 'X-API-Key') or HTTP Basic"
                    + " credentials."
                : "Provide a valid API key in 'Authorization: Bearer <key>' or 'X-API-Key'.",
        Map.of());
  }
}
