package com.kosmosx.api.resources;

import com.kosmosx.api.auth.Authenticated;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import java.util.Map;

/**
 * No-op endpoints: {@code GET /ping} for load balancers, {@code GET /v1/ping} to check a key (and
 * to measure what authentication costs: the auth benchmark compares the two).
 */
@Path("/")
@Produces(MediaType.APPLICATION_JSON)
public final class PingResource {
  private static final Map<String, Boolean> OK = Map.of("ok", true);

  @GET
  @Path("ping")
  public Map<String, Boolean> ping() {
    return OK;
  }

  @GET
  @Path("v1/ping")
  @Authenticated(Authenticated.Scheme.API_KEY)
  public Map<String, Boolean> authenticatedPing() {
    return OK;
  }
}
