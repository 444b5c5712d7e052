package com.kosmosx.api.resources;

import com.kosmosx.api.accounts.KeyService;
import com.kosmosx.api.api.ApiKeyView;
import com.kosmosx.api.api.CreateKeyRequest;
import com.kosmosx.api.api.NewApiKey;
import com.kosmosx.api.api.RotateKeyRequest;
import com.kosmosx.api.auth.Authenticated;
import com.kosmosx.api.auth.Authenticated.Scheme;
import com.kosmosx.api.auth.Caller;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.DELETE;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.Context;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.core.SecurityContext;
import java.util.List;
import java.util.Map;

/**
 * API keys. Issuing keys takes the password (HTTP Basic), so a leaked key cannot mint more; listing
 * and revoking also work with a key, so a leaked key can be killed with itself.
 */
@Path("/v1/api-keys")
@Produces(MediaType.APPLICATION_JSON)
public final class ApiKeyResource {
  private final KeyService keys;

  public ApiKeyResource(KeyService keys) {
    this.keys = keys;
  }

  @GET
  @Authenticated({Scheme.API_KEY, Scheme.BASIC})
  public Map<String, List<ApiKeyView>> list(@Context SecurityContext sc) {
    return Map.of("data", keys.list(caller(sc)));
  }

  @POST
  @Consumes(MediaType.APPLICATION_JSON)
  @Authenticated(Scheme.BASIC)
  public Response create(@Context SecurityContext sc, CreateKeyRequest request) {
    NewApiKey key = keys.create(caller(sc), request);
    return Response.status(201).entity(key).build();
  }

  @POST
  @Path("/rotate")
  @Consumes(MediaType.APPLICATION_JSON)
  @Authenticated(Scheme.BASIC)
  public Response rotate(@Context SecurityContext sc, RotateKeyRequest request) {
    return Response.status(201).entity(keys.rotate(caller(sc), request)).build();
  }

  @DELETE
  @Path("/{id}")
  @Authenticated({Scheme.API_KEY, Scheme.BASIC})
  public Response revoke(@Context SecurityContext sc, @PathParam("id") String id) {
    keys.revoke(caller(sc), id);
    return Response.noContent().build();
  }

  static Caller caller(SecurityContext sc) {
    return (Caller) sc.getUserPrincipal();
  }
}
