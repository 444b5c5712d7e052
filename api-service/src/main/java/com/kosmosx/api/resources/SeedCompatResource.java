package com.kosmosx.api.resources;

import com.kosmosx.api.accounts.AccountService;
import com.kosmosx.api.accounts.KeyService;
import com.kosmosx.api.accounts.Limits;
import com.kosmosx.api.api.AccountCreated;
import com.kosmosx.api.api.CreateAccountRequest;
import com.kosmosx.api.api.JobView;
import com.kosmosx.api.api.RotateKeyRequest;
import com.kosmosx.api.api.SeedRequests;
import com.kosmosx.api.api.SubmitJobRequest;
import com.kosmosx.api.auth.Authenticated;
import com.kosmosx.api.auth.Authenticated.Scheme;
import com.kosmosx.api.auth.BasicAuthenticator;
import com.kosmosx.api.auth.Caller;
import com.kosmosx.api.auth.ClientAddressFilter;
import com.kosmosx.api.errors.ApiProblem;
import com.kosmosx.api.jobs.JobService;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.core.Context;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.core.SecurityContext;
import java.time.Duration;
import java.util.Map;

/**
 * The routes of the original design sketch, kept for its clients: same semantics as v1, JSON bodies
 * only (a password never travels in a query string), same error rules.
 */
@Path("/")
@Consumes(MediaType.APPLICATION_JSON)
@Produces(MediaType.APPLICATION_JSON)
public final class SeedCompatResource {
  private static final String NO_EMAIL = "unknown@example.invalid";
  private final AccountService accounts;
  private final KeyService keys;
  private final BasicAuthenticator basic;
  private final JobService jobs;
  private final Duration predictTimeout;
  private final Limits limits;

  public SeedCompatResource(
      AccountService accounts,
      KeyService keys,
      BasicAuthenticator basic,
      JobService jobs,
      Limits limits,
      Duration predictTimeout) {
    this.limits = limits;
    this.accounts = accounts;
    this.keys = keys;
    this.basic = basic;
    this.jobs = jobs;
    this.predictTimeout = predictTimeout;
  }

  @POST
  @Path("register")
  public Response register(@Context ContainerRequestContext ctx, SeedRequests.Register r) {
    limits.admitSignup(ClientAddressFilter.of(ctx));
    if (r == null) {
      throw ApiProblem.validation("A JSON body is required.");
    }
    AccountCreated created =
        accounts.create(
            new CreateAccountRequest(
                r.username(), r.email() == null ? NO_EMAIL : r.email(), r.password()));
    return Response.status(201)
        .entity(
            Map.of(
                "api_key", created.apiKey().key(),
                "account_id", created.accountId(),
                "webhook_secret", created.webhookSecret()))
        .build();
  }

  @POST
  @Path("rotate_api_key")
  public Map<String, String> rotate(
      @Context ContainerRequestContext ctx, SeedRequests.Credentials r) {
    Caller caller = login(r, ClientAddressFilter.of(ctx));
    return Map.of("api_key", keys.rotate(caller, new RotateKeyRequest(0L)).key());
  }

  @POST
  @Path("delete_account")
  public Map<String, String> delete(
      @Context ContainerRequestContext ctx, SeedRequests.Credentials r) {
    keys.closeAccount(login(r, ClientAddressFilter.of(ctx)));
    return Map.of("detail", "Account deleted");
  }

  /** Synchronous text generation: a text job that this call waits for. */
  @POST
  @Path("predict")
  @Authenticated(Scheme.API_KEY)
  @com.kosmosx.api.auth.AdmitsSubmission
  public Map<String, String> predict(@Context SecurityContext sc, SeedRequests.Predict r)
      throws InterruptedException {
    if (r == null || r.text() == null) {
      throw ApiProblem.validation("Field 'text' is required.", "text");
    }
    Caller caller = ApiKeyResource.caller(sc);
    JobView submitted =
        jobs.submit(
            caller,
            new SubmitJobRequest(
                "text",
                new SubmitJobRequest.Input(r.text(), null, null, null, null, null, null, null),
                null,
                null));
    JobView done = jobs.awaitTerminal(caller, submitted.id(), predictTimeout);
    switch (done.status()) {
      case "succeeded" -> {
        return Map.of("response", done.output().path("text").asText());
      }
      case "failed" -> {
        String code = done.error() == null ? "failed" : done.error().code();
        int status = "context_length_exceeded".equals(code) ? 400 : 503;
        throw new ApiProblem(
            status,
            status == 400 ? code : "unavailable",
            "Prediction failed",
            done.error() == null ? "The job failed." : done.error().message(),
            Map.of("job_id", done.id()));
      }
      default ->
          throw new ApiProblem(
              503,
              "unavailable",
              "Prediction still running",
              "The job did not finish within " + predictTimeout.toSeconds() + " s; poll it.",
              Map.of("job_id", done.id(), "url", done.urls().get()));
    }
  }

  private Caller login(SeedRequests.Credentials r, String address) {
    if (r == null) {
      throw ApiProblem.validation("A JSON body is required.");
    }
    return basic
        .authenticate(r.username(), r.password(), address)
        .orElseThrow(
            () ->
                new ApiProblem(
                    401,
                    "invalid_credentials",
                    "Invalid credentials",
                    "The username or password is wrong."));
  }
}
