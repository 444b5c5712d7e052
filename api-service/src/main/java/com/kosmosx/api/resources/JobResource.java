package com.kosmosx.api.resources;

import com.kosmosx.api.api.JobView;
import com.kosmosx.api.api.SubmitJobRequest;
import com.kosmosx.api.auth.Authenticated;
import com.kosmosx.api.auth.Caller;
import com.kosmosx.api.auth.RateLimitHeadersFilter;
import com.kosmosx.api.core.JobService;
import com.kosmosx.api.core.Limits;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.core.Context;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.core.SecurityContext;
import java.net.URI;

/** Submit and poll jobs. A job of another account is 404, never 403. */
@Path("/v1/jobs")
@Authenticated(Authenticated.Scheme.API_KEY)
@Produces(MediaType.APPLICATION_JSON)
public final class JobResource {
  private final JobService jobs;
  private final Limits limits;

  public JobResource(JobService jobs, Limits limits) {
    this.jobs = jobs;
    this.limits = limits;
  }

  @POST
  @Consumes(MediaType.APPLICATION_JSON)
  public Response submit(
      @Context SecurityContext security,
      @Context ContainerRequestContext ctx,
      SubmitJobRequest request) {
    Caller caller = caller(security);
    ctx.setProperty(RateLimitHeadersFilter.DECISION, limits.admitSubmission(caller));
    JobView job = jobs.submit(caller, request);
    return Response.accepted(job).location(URI.create(job.urls().get())).build();
  }

  @GET
  @Path("/{id}")
  public JobView get(@Context SecurityContext security, @PathParam("id") String id) {
    return jobs.find(caller(security), id);
  }

  private static Caller caller(SecurityContext security) {
    return (Caller) security.getUserPrincipal();
  }
}
