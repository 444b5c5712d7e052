package com.kosmosx.api.auth;

import jakarta.ws.rs.Priorities;
import jakarta.ws.rs.container.DynamicFeature;
import jakarta.ws.rs.container.ResourceInfo;
import jakarta.ws.rs.core.FeatureContext;
import java.util.EnumSet;
import java.util.List;

/** Registers an {@link AuthFilter} for every resource method marked {@link Authenticated}. */
public final class AuthFeature implements DynamicFeature {
  private final ApiKeyAuthenticator keys;
  private final BasicAuthenticator basic;

  public AuthFeature(ApiKeyAuthenticator keys, BasicAuthenticator basic) {
    this.keys = keys;
    this.basic = basic;
  }

  @Override
  public void configure(ResourceInfo info, FeatureContext context) {
    Authenticated a = info.getResourceMethod().getAnnotation(Authenticated.class);
    if (a == null) {
      a = info.getResourceClass().getAnnotation(Authenticated.class);
    }
    if (a == null) {
      return;
    }
    context.register(
        new AuthFilter(
            EnumSet.copyOf(List.of(a.value())),
            a.roles().length == 0
                ? EnumSet.allOf(Caller.Role.class)
                : EnumSet.copyOf(List.of(a.roles())),
            keys,
            basic),
        Priorities.AUTHENTICATION);
  }
}
