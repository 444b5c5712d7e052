package com.kosmosx.api.auth;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Which credentials a resource (class or method) accepts; {@link AuthFeature} puts the matching
 * filter in front of it. A method's annotation overrides its class's.
 */
@Retention(RetentionPolicy.RUNTIME)
@Target({ElementType.TYPE, ElementType.METHOD})
public @interface Authenticated {
  Scheme[] value();

  /** Optional roles; an empty list admits every role. A caller without one gets 403. */
  Caller.Role[] roles() default {};

  /** API key ({@code Authorization: Bearer} or {@code X-API-Key}), or HTTP Basic. */
  enum Scheme {
    API_KEY,
    BASIC
  }
}
