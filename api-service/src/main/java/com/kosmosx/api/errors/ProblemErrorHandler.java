package com.kosmosx.api.errors;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.util.Callback;

/**
 * Jetty's own error answers (a request line it cannot parse, broken percent-encoding, an encoded
 * slash in a path, invalid UTF-8 in a URI: refused before any resource runs) as problem+json with a
 * code, like every other error of the API, instead of Jetty's HTML page or an empty body.
 */
public final class ProblemErrorHandler extends ErrorHandler {

  /** Every method gets a body (Jetty's default writes one for GET, POST and HEAD only). */
  @Override
  public boolean errorPageForMethod(String method) {
    return true;
  }

  @Override
  protected void generateResponse(
      Request request,
      Response response,
      int status,
      String message,
      Throwable cause,
      Callback callback) {
    String code =
        switch (status) {
          case 404 -> "not_found";
          case 405 -> "method_not_allowed";
          case 406 -> "not_acceptable";
          case 413 -> "payload_too_large";
          case 415 -> "unsupported_media_type";
          case 429 -> "rate_limited";
          case 503 -> "unavailable";
          default -> status >= 500 ? "internal_error" : "bad_request";
        };
    String title = HttpStatus.getMessage(status);
    String detail =
        status >= 500
            ? "The server could not answer this request."
            : "The request could not be read: "
                + (message == null || message.isBlank() ? title : message)
                + ".";
    String body =
        "{\"type\":\"https://docs.kosmosx.ai/errors/"
            + code
            + "\",\"title\":"
            + quote(title)
            + ",\"status\":"
            + status
            + ",\"code\":\""
            + code
            + "\",\"detail\":"
            + quote(detail)
            + "}";
    response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/problem+json");
    response.write(true, ByteBuffer.wrap(body.getBytes(StandardCharsets.UTF_8)), callback);
  }

  /** A JSON string of printable ASCII (whatever a client put in its request line stays out). */
  static String quote(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      if (c == '"' || c == '\\') {
        b.append('\\').append(c);
      } else if (c >= 0x20 && c < 0x7f) {
        b.append(c);
      } else {
        b.append('?');
      }
    }
    return b.append('"').toString();
  }
}
