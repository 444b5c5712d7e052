package com.kosmosx.api.resources;

import com.kosmosx.api.accounts.KeyService;
import com.kosmosx.api.auth.Authenticated;
import com.kosmosx.api.auth.Authenticated.Scheme;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.Context;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.SecurityContext;
import java.util.Map;

/** The account's webhook signing secret ({@code whsec_…}) and its rotation. */
@Path("/v1/webhook-secret")
@Produces(MediaType.APPLICATION_JSON)
@Authenticated(Scheme.API_KEY)
public final class WebhookSecretResource {
  private final KeyService keys;

  public WebhookSecretResource(KeyService keys) {
    this.keys = keys;
  }

  @GET
  public Map<String, String> get(@Context SecurityContext sc) {
    return Map.of("webhook_secret", keys.webhookSecret(ApiKeyResource.caller(sc)));
  }

  @POST
  @Path("/rotate")
  public Map<String, String> rotate(@Context SecurityContext sc) {
    return Map.of("webhook_secret", keys.rotateWebhookSecret(ApiKeyResource.caller(sc)));
  }
}
