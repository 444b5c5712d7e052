package com.kosmosx.api.resources;

import com.kosmosx.api.auth.Authenticated;
import com.kosmosx.api.auth.Caller;
import com.kosmosx.api.core.KeyService;
import com.kosmosx.api.errors.ApiProblem;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.PUT;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import java.util.Locale;
import java.util.Map;

/** Administration: roles (plans come with the billing issue). Admin role only. */
@Path("/v1/admin/accounts")
@Produces(MediaType.APPLICATION_JSON)
@Authenticated(value = Authenticated.Scheme.API_KEY, roles = Caller.Role.ADMIN)
public final class AdminResource {
  private final KeyService keys;

  public AdminResource(KeyService keys) {
    this.keys = keys;
  }

  /** Body of {@code PUT /v1/admin/accounts/{id}/role}. */
  public record RoleChange(String role) {}

  @PUT
  @Path("/{id}/role")
  @Consumes(MediaType.APPLICATION_JSON)
  public Map<String, String> setRole(@PathParam("id") String accountId, RoleChange change) {
    if (change == null || change.role() == null) {
      throw ApiProblem.validation("Field 'role' is required: user, finance or admin.", "role");
    }
    Caller.Role role;
    try {
      role = Caller.Role.valueOf(change.role().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw ApiProblem.validation("Field 'role' must be user, finance or admin.", "role");
    }
    keys.setRole(accountId, role);
    return Map.of("account_id", accountId, "role", role.name().toLowerCase(Locale.ROOT));
  }
}
