package com.kosmosx.api.resources;

import com.kosmosx.api.auth.Authenticated;
import com.kosmosx.api.auth.Caller;
import com.kosmosx.api.billing.BillingService;
import com.kosmosx.api.errors.ApiProblem;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.QueryParam;
import jakarta.ws.rs.core.Context;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.core.SecurityContext;
import java.util.List;
import java.util.Map;

/**
 * The caller's own usage ({@code /v1/usage}); finance's reports are in {@link AdminResource}. JSON
 * by default, CSV (RFC 4180) with {@code format=csv}; amounts are decimal strings.
 */
@Path("/v1/usage")
@Produces({MediaType.APPLICATION_JSON, "text/csv"})
public final class UsageResource {
  static final String CSV = "text/csv; charset=utf-8";
  private final BillingService billing;

  public UsageResource(BillingService billing) {
    this.billing = billing;
  }

  @GET
  @Authenticated(Authenticated.Scheme.API_KEY)
  public Response ownUsage(
      @Context SecurityContext security,
      @QueryParam("from") String from,
      @QueryParam("to") String to,
      @QueryParam("granularity") String granularity,
      @QueryParam("format") String format) {
    Caller caller = (Caller) security.getUserPrincipal();
    List<Map<String, Object>> rows =
        billing.usage(
            caller.accountId(),
            BillingService.date(from, "from"),
            BillingService.date(to, "to"),
            granularity == null ? "day" : granularity);
    rows.forEach(r -> r.remove("account_id"));
    return render(
        format,
        BillingService.USAGE_COLUMNS.subList(1, BillingService.USAGE_COLUMNS.size()),
        rows,
        Map.of("data", rows));
  }

  static Response render(
      String format, List<String> columns, List<Map<String, Object>> rows, Object json) {
    if (format == null || format.equals("json")) {
      return Response.ok(json, MediaType.APPLICATION_JSON_TYPE).build();
    }
    if (format.equals("csv")) {
      return Response.ok(BillingService.csv(columns, rows), CSV).build();
    }
    throw ApiProblem.validation("Query parameter 'format' is json or csv.", "format");
  }
}
