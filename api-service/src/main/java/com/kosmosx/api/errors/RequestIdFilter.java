package com.kosmosx.api.errors;

import jakarta.annotation.Priority;
import jakarta.ws.rs.Priorities;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.container.ContainerRequestFilter;
import jakarta.ws.rs.container.ContainerResponseContext;
import jakarta.ws.rs.container.ContainerResponseFilter;
import jakarta.ws.rs.container.PreMatching;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.regex.Pattern;

/**
 * Every answer carries {@code x-request-id} (the header OpenAI's clients log and put in their
 * exceptions): the client's own {@code X-Request-Id} when it is a plain token, else a new random
 * one. Support asks for it; it never contains anything the client did not send or a random value.
 */
@PreMatching
@Priority(Priorities.AUTHENTICATION - 100)
public final class RequestIdFilter implements ContainerRequestFilter, ContainerResponseFilter {
  static final String PROPERTY = "kosmos.request-id";
  private static final Pattern TOKEN = Pattern.compile("[A-Za-z0-9._:-]{1,128}");
  private static final SecureRandom RANDOM = new SecureRandom();

  @Override
  public void filter(ContainerRequestContext req) {
    String given = req.getHeaderString("X-Request-Id");
    String id;
    if (given != null && TOKEN.matcher(given).matches()) {
      id = given;
    } else {
      byte[] b = new byte[12];
      RANDOM.nextBytes(b);
      id = "req_" + HexFormat.of().formatHex(b);
    }
    req.setProperty(PROPERTY, id);
  }

  @Override
  public void filter(ContainerRequestContext req, ContainerResponseContext res) {
    Object id = req.getProperty(PROPERTY);
    if (id != null) {
      res.getHeaders().putSingle("x-request-id", id);
    }
  }
}
