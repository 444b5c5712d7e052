package com.kosmosx.api.resources;

import com.kosmosx.api.accounts.KeyService;
import com.kosmosx.api.auth.Authenticated;
import com.kosmosx.api.auth.Caller;
import com.kosmosx.api.billing.BillingService;
import com.kosmosx.api.billing.PlanService;
import com.kosmosx.api.errors.ApiProblem;
import com.kosmosx.api.outbox.DeadLetters;
import com.kosmosx.api.quarantine.QuarantineStore;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.PUT;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.QueryParam;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.core.SecurityContext;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Administration: roles, plans and dead letters (admin role), and finance's usage, invoice and
 * reconciliation reports (finance or admin role).
 */
@Path("/v1/admin")
@Produces({MediaType.APPLICATION_JSON, "text/csv"})
@Authenticated(value = Authenticated.Scheme.API_KEY, roles = Caller.Role.ADMIN)
public final class AdminResource {
  private static final java.util.regex.Pattern ACCOUNT_ID =
      java.util.regex.Pattern.compile("acc_[0-9a-z]{1,64}");

  /**
   * {@code ?limit=}: 100 when absent, else a whole number from 1 to {@code max} (400 otherwise).
   */
  static int limit(String raw, int max) {
    if (raw == null) {
      return 100;
    }
    int n;
    try {
      n = Integer.parseInt(raw.trim());
    } catch (NumberFormatException e) {
      n = -1;
    }
    if (n < 1 || n > max) {
      throw ApiProblem.validation("Query parameter 'limit' is between 1 and " + max + ".", "limit");
    }
    return n;
  }

  /** The loops that quarantine what they cannot apply. */
  static final List<String> QUARANTINING_LOOPS =
      List.of("outbox-relay", "job-event-projector", "rollup-sink", "webhook-deliveries");

  private final KeyService keys;
  private final PlanService plans;
  private final DeadLetters deadLetters;
  private final BillingService billing;
  private final QuarantineStore quarantine;

  public AdminResource(
      KeyService keys,
      PlanService plans,
      DeadLetters deadLetters,
      BillingService billing,
      QuarantineStore quarantine) {
    this.quarantine = quarantine;
    this.keys = keys;
    this.plans = plans;
    this.deadLetters = deadLetters;
    this.billing = billing;
  }

  // Finance reports: the finance role (and admins); JSON or CSV (RFC 4180).

  @GET
  @Path("/usage")
  @Authenticated(
      value = Authenticated.Scheme.API_KEY,
      roles = {Caller.Role.FINANCE, Caller.Role.ADMIN})
  public Response adminUsage(
      @QueryParam("from") String from,
      @QueryParam("to") String to,
      @QueryParam("granularity") String granularity,
      @QueryParam("account_id") String accountId,
      @QueryParam("format") String format) {
    if (accountId != null && !ACCOUNT_ID.matcher(accountId).matches()) {
      throw ApiProblem.validation(
          "Query parameter 'account_id' is an account id (acc_ and 1-64 of 0-9, a-z).",
          "account_id");
    }
    List<Map<String, Object>> rows =
        billing.usage(
            accountId,
            BillingService.date(from, "from"),
            BillingService.date(to, "to"),
            granularity == null ? "day" : granularity);
    return UsageResource.render(format, BillingService.USAGE_COLUMNS, rows, Map.of("data", rows));
  }

  @GET
  @Path("/invoices")
  @Authenticated(
      value = Authenticated.Scheme.API_KEY,
      roles = {Caller.Role.FINANCE, Caller.Role.ADMIN})
  @SuppressWarnings("unchecked")
  public Response invoices(@QueryParam("month") String month, @QueryParam("format") String format) {
    Map<String, Object> invoice = billing.invoices(BillingService.month(month));
    return UsageResource.render(
        format,
        BillingService.INVOICE_COLUMNS,
        (List<Map<String, Object>>) invoice.get("lines"),
        invoice);
  }

  /** Who the key belongs to and its role: what the finance page signs in with. */
  @GET
  @Path("/me")
  @Authenticated(
      value = Authenticated.Scheme.API_KEY,
      roles = {Caller.Role.FINANCE, Caller.Role.ADMIN})
  public Map<String, Object> me(@jakarta.ws.rs.core.Context SecurityContext sc) {
    Caller c = ApiKeyResource.caller(sc);
    return Map.of(
        "account_id",
        c.accountId(),
        "key_id",
        c.keyId(),
        "role",
        c.role().name().toLowerCase(java.util.Locale.ROOT));
  }

  @GET
  @Path("/revenue")
  @Authenticated(
      value = Authenticated.Scheme.API_KEY,
      roles = {Caller.Role.FINANCE, Caller.Role.ADMIN})
  @SuppressWarnings("unchecked")
  public Response revenue(
      @QueryParam("from") String from,
      @QueryParam("to") String to,
      @QueryParam("granularity") String granularity,
      @QueryParam("format") String format) {
    Map<String, Object> report =
        billing.revenue(
            BillingService.date(from, "from"),
            BillingService.date(to, "to"),
            granularity == null ? "month" : granularity);
    return UsageResource.render(
        format,
        com.kosmosx.api.billing.Revenue.COLUMNS,
        (List<Map<String, Object>>) report.get("rows"),
        report);
  }

  /**
   * Freezes a month's invoice (admin only): its lines never change again, and usage that reaches
   * the month later is billed as an adjustment on the next open month. 409 if the month has not
   * ended, is closed already, or an earlier month with billing is still open.
   */
  @POST
  @Path("/invoices/{month}/close")
  public Map<String, Object> closeMonth(
      @PathParam("month") String month, @jakarta.ws.rs.core.Context SecurityContext sc) {
    return billing.close(
        BillingService.month(month, "Path segment"), ApiKeyResource.caller(sc).keyId());
  }

  @GET
  @Path("/reconciliation")
  @Authenticated(
      value = Authenticated.Scheme.API_KEY,
      roles = {Caller.Role.FINANCE, Caller.Role.ADMIN})
  public Map<String, Object> reconciliation(@QueryParam("month") String month) {
    return billing.reconciliation(BillingService.month(month));
  }

  /**
   * The worker's set-aside job messages not replayed yet, oldest first, with their reason, source
   * and attempts ({@code ?limit=}, at most 1000).
   */
  @GET
  @Path("/dead-letters")
  public Map<String, Object> deadLetters(@QueryParam("limit") String limit) {
    int n = limit(limit, 1_000);
    Map<String, Object> out = new java.util.LinkedHashMap<>();
    out.put("object", "list");
    out.put("data", deadLetters.list(n));
    return out;
  }

  /**
   * Sends up to {@code limit} dead-lettered job messages back to their lane (after the cause was
   * fixed); their jobs are queued again.
   */
  @POST
  @Path("/dead-letters/replay")
  public Map<String, Object> replayDeadLetters(@QueryParam("limit") String limit) {
    int n = limit(limit, 10_000);
    return deadLetters.replay(n);
  }

  /**
   * What the background loops set aside (records and rows they could not apply), newest first:
   * {@code ?loop=} one loop, {@code ?all=true} replayed ones too, {@code ?limit=} at most 1000.
   */
  @GET
  @Path("/quarantine")
  public Map<String, Object> quarantine(
      @QueryParam("loop") String loop,
      @QueryParam("all") String all,
      @QueryParam("limit") String limit) {
    int n = limit(limit, 1_000);
    if (all != null && !all.equals("true") && !all.equals("false")) {
      throw ApiProblem.validation("Query parameter 'all' is true or false.", "all");
    }
    if (loop != null && (loop.length() > 64 || !loop.matches("[a-z-]+"))) {
      throw ApiProblem.validation(
          "Query parameter 'loop' names a loop, e.g. outbox-relay.", "loop");
    }
    Map<String, Object> out = new java.util.LinkedHashMap<>();
    out.put("object", "list");
    out.put("data", quarantine.list(loop, "true".equals(all), n));
    out.put("open", quarantine.open());
    return out;
  }

  /**
   * Replays one quarantined record through its loop (after its cause was fixed). 404 if there is no
   * such record, 409 if it was replayed already or still cannot be applied (it stays).
   */
  @POST
  @Path("/quarantine/{id}/replay")
  public Map<String, Object> replayQuarantined(@PathParam("id") String id) {
    long n;
    try {
      n = Long.parseLong(id);
    } catch (NumberFormatException e) {
      throw ApiProblem.notFound("quarantined record");
    }
    QuarantineStore.Replay r;
    try {
      r = quarantine.replay(n);
    } catch (RuntimeException e) {
      throw new ApiProblem(
          409,
          "replay_failed",
          "Replay failed",
          "The record still cannot be applied and stays quarantined: "
              + com.kosmosx.runtime.Failures.describe(e));
    }
    switch (r) {
      case NOT_FOUND -> throw ApiProblem.notFound("quarantined record");
      case ALREADY_REPLAYED -> throw ApiProblem.conflict("The record was replayed already.");
      case NO_REPLAYER ->
          throw ApiProblem.conflict("No loop on this instance replays records of this kind.");
      default -> {}
    }
    Map<String, Object> out = new java.util.LinkedHashMap<>();
    out.put("id", n);
    out.put("replayed", true);
    return out;
  }

  /**
   * {@code {"text": {"plan": "dedicated", "lane": "acme", "effective_from": "2026-12-01"}, "image":
   * {"plan": "payg"}}}: see {@link PlanService} for the rules.
   */
  @PUT
  @Path("/accounts/{id}/plan")
  @Consumes(MediaType.APPLICATION_JSON)
  public Map<String, Object> setPlan(
      @PathParam("id") String accountId, Map<String, PlanService.Request> body) {
    return plans.set(accountId, body);
  }

  @GET
  @Path("/accounts/{id}/plan")
  public Map<String, Object> getPlan(@PathParam("id") String accountId) {
    return plans.get(accountId);
  }

  /** Body of {@code PUT /v1/admin/accounts/{id}/role}. */
  public record RoleChange(String role) {}

  @PUT
  @Path("/accounts/{id}/role")
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
