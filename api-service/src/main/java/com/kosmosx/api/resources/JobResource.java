package com.kosmosx.api.resources;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.kosmosx.api.api.JobView;
import com.kosmosx.api.api.SubmitJobRequest;
import com.kosmosx.api.auth.Authenticated;
import com.kosmosx.api.auth.Caller;
import com.kosmosx.api.auth.RateLimitHeadersFilter;
import com.kosmosx.api.core.ImageNormalizer;
import com.kosmosx.api.core.JobService;
import com.kosmosx.api.core.Limits;
import com.kosmosx.api.errors.ApiProblem;
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
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import org.glassfish.jersey.media.multipart.FormDataBodyPart;
import org.glassfish.jersey.media.multipart.FormDataMultiPart;

/** Submit and poll jobs. A job of another account is 404, never 403. */
@Path("/v1/jobs")
@Authenticated(Authenticated.Scheme.API_KEY)
@Produces(MediaType.APPLICATION_JSON)
public final class JobResource {
  private final JobService jobs;
  private final Limits limits;
  private final ObjectMapper mapper;

  /**
   * @param mapper the strict REST mapper, for the JSON part of a multipart submission
   */
  public JobResource(JobService jobs, Limits limits, ObjectMapper mapper) {
    this.jobs = jobs;
    this.limits = limits;
    this.mapper = mapper;
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

  /**
   * An image job as {@code multipart/form-data}: an {@code image} file part and a {@code request}
   * part holding the same JSON as the JSON form (without {@code input.image}).
   */
  @POST
  @Consumes(MediaType.MULTIPART_FORM_DATA)
  public Response submitMultipart(
      @Context SecurityContext security,
      @Context ContainerRequestContext ctx,
      FormDataMultiPart form) {
    Caller caller = caller(security);
    if (form == null) {
      throw ApiProblem.validation("A multipart body with 'request' and 'image' parts is required.");
    }
    FormDataBodyPart requestPart = form.getField("request");
    FormDataBodyPart imagePart = form.getField("image");
    if (requestPart == null) {
      throw ApiProblem.validation("Part 'request' (the job as JSON) is required.", "request");
    }
    if (imagePart == null) {
      throw ApiProblem.validation("Part 'image' (the image file) is required.", "input.image");
    }
    SubmitJobRequest request;
    try {
      request = mapper.readValue(requestPart.getValueAs(String.class), SubmitJobRequest.class);
    } catch (JsonProcessingException e) {
      throw ApiProblem.validation(
          "Part 'request' is not a valid job request: " + e.getOriginalMessage(), "request");
    }
    byte[] image;
    try (InputStream in = imagePart.getValueAs(InputStream.class)) {
      image = in.readNBytes(ImageNormalizer.MAX_BYTES + 1);
    } catch (IOException e) {
      throw ApiProblem.validation("Part 'image' could not be read.", "input.image");
    }
    ctx.setProperty(RateLimitHeadersFilter.DECISION, limits.admitSubmission(caller));
    JobView job = jobs.submit(caller, request, image);
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
