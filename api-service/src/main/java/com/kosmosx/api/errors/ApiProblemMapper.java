package com.kosmosx.api.errors;

import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.ext.ExceptionMapper;

/** Renders {@link ApiProblem}. */
public final class ApiProblemMapper implements ExceptionMapper<ApiProblem> {
  @Override
  public Response toResponse(ApiProblem problem) {
    Response response = Problem.of(problem);
    if (!problem.headers().isEmpty()) {
      Response.ResponseBuilder b = Response.fromResponse(response);
      problem.headers().forEach(b::header);
      response = b.build();
    }
    if (problem.status() == 413) {
      // The body was refused unread: say the connection ends here, so a client does not send its
      // next request on a connection the server is about to close.
      return Response.fromResponse(response).header("Connection", "close").build();
    }
    return response;
  }
}
