package com.kosmosx.api.resources;

import com.kosmosx.api.api.AccountCreated;
import com.kosmosx.api.api.CreateAccountRequest;
import com.kosmosx.api.core.AccountService;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;

/** Self-service sign-up. The rest of the account surface (keys, deletion) is its own issue. */
@Path("/v1/accounts")
@Consumes(MediaType.APPLICATION_JSON)
@Produces(MediaType.APPLICATION_JSON)
public final class AccountResource {
  private final AccountService accounts;

  public AccountResource(AccountService accounts) {
    this.accounts = accounts;
  }

  @POST
  public Response create(CreateAccountRequest request) {
    AccountCreated created = accounts.create(request);
    return Response.status(201).entity(created).build();
  }
}
