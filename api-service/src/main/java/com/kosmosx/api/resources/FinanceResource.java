package com.kosmosx.api.resources;

import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.core.Response;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Map;

/**
 * The finance page at {@code /finance}: static HTML and JavaScript (no build step) with Chart.js
 * from its webjar. The page holds no data and no secret: it asks for a finance (or admin) key,
 * keeps it in the tab's session storage, and reads the same finance routes as any client, with the
 * key in {@code Authorization}. A strict Content-Security-Policy allows only this origin's scripts
 * and connections.
 */
@Path("/finance")
public final class FinanceResource {
  static final String CHART_JS = "META-INF/resources/webjars/chart.js/4.4.1/dist/chart.umd.js";
  private static final Map<String, String[]> FILES =
      Map.of(
          "finance.js", new String[] {"finance/finance.js", "application/javascript"},
          "finance.css", new String[] {"finance/finance.css", "text/css"},
          "chart.umd.js", new String[] {CHART_JS, "application/javascript"});
  static final String CSP =
      "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self';"
          + " img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

  private final Map<String, byte[]> cache = new java.util.concurrent.ConcurrentHashMap<>();

  @GET
  public Response page() {
    return serve("finance/index.html", "text/html; charset=utf-8");
  }

  @GET
  @Path("{file}")
  public Response asset(@PathParam("file") String file) {
    String[] f = FILES.get(file);
    if (f == null) {
      return Response.status(404).type("text/plain").entity("not found").build();
    }
    return serve(f[0], f[1]);
  }

  private Response serve(String resource, String type) {
    byte[] body = cache.computeIfAbsent(resource, FinanceResource::read);
    return Response.ok(body, type)
        .header("Content-Security-Policy", CSP)
        .header("X-Content-Type-Options", "nosniff")
        .header("Referrer-Policy", "no-referrer")
        .header("Cache-Control", "no-cache")
        .build();
  }

  private static byte[] read(String resource) {
    try (InputStream in = FinanceResource.class.getClassLoader().getResourceAsStream(resource)) {
      if (in == null) {
        throw new IllegalStateException(resource + " is missing from the classpath");
      }
      return in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
