package com.kosmosx.api.resources;

import com.kosmosx.api.auth.Authenticated;
import com.kosmosx.api.auth.Caller;
import com.kosmosx.api.core.KeyService;
import com.kosmosx.api.core.PlanService;
import com.kosmosx.api.errors.ApiProblem;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.PUT;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import java.util.Locale;
import java.util.Map;

/** Administration: roles and plans. Admin role only. */
@Path("/v1/admin/accounts")
@Produces(MediaType.APPLICATION_JSON)
@Authenticated(value = Authenticated.Scheme.API_KEY, roles = Caller.Role.ADMIN)
public final class AdminResource {
  private final KeyService keys;
  private final PlanService plans;

  public AdminResource(KeyService keys, PlanService plans) {
    this.keys = keys;
    this.plans = plans;
  }

  /**
   * {@code {"text": {"plan": "dedicated", "lane": "acme", "effective_from": "2026-12-01"}, "image":
   * {"plan": "payg"}}}: see {@link PlanService} for the rules.
   */
  @PUT
  @Path("/{id}/plan")
  @Consumes(MediaType.APPLICATION_JSON)
  public Map<String, Object> setPlan(
      @PathParam("id") String accountId, Map<String, PlanService.Request> body) {
    return plans.set(accountId, body);
  }

  @GET
  @Path("/{id}/plan")
  public Map<String, Object> getPlan(@PathParam("id") String accountId) {
    return plans.get(accountId);
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
