package com.kosmosx.api.resources;

import com.kosmosx.api.accounts.AccountService;
import com.kosmosx.api.accounts.KeyService;
import com.kosmosx.api.accounts.Limits;
import com.kosmosx.api.api.AccountCreated;
import com.kosmosx.api.api.CreateAccountRequest;
import com.kosmosx.api.auth.Authenticated;
import com.kosmosx.api.auth.Authenticated.Scheme;
import com.kosmosx.api.auth.ClientAddressFilter;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.DELETE;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.core.Context;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.core.SecurityContext;

/** Sign-up and closing an account. */
@Path("/v1/accounts")
@Produces(MediaType.APPLICATION_JSON)
public final class AccountResource {
  private final AccountService accounts;
  private final KeyService keys;
  private final Limits limits;

  public AccountResource(AccountService accounts, KeyService keys, Limits limits) {
    this.accounts = accounts;
    this.keys = keys;
    this.limits = limits;
  }

  @POST
  @Consumes(MediaType.APPLICATION_JSON)
  public Response create(@Context ContainerRequestContext ctx, CreateAccountRequest request) {
    limits.admitSignup(ClientAddressFilter.of(ctx));
    AccountCreated created = accounts.create(request);
    return Response.status(201).entity(created).build();
  }

  /** Keys revoked, job inputs and outputs erased; usage kept for invoicing. */
  @DELETE
  @Path("/me")
  @Authenticated(Scheme.BASIC)
  public Response close(@Context SecurityContext sc) {
    keys.closeAccount(ApiKeyResource.caller(sc));
    return Response.noContent().build();
  }
}
