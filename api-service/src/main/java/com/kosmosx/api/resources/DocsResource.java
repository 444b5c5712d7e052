package com.kosmosx.api.resources;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Map;
import java.util.Set;

/**
 * The OpenAPI description at {@code /openapi.json} and Swagger UI at {@code /docs}. The document is
 * written by hand ({@code openapi/openapi.yaml}) and kept honest by {@code OpenApiContractTest},
 * which fails when a resource method is missing from it or it names one that does not exist.
 */
@Path("/")
public final class DocsResource {
  public static final String SPEC = "openapi/openapi.yaml";
  private static final String WEBJAR = "META-INF/resources/webjars/swagger-ui/5.34.1/";
  private static final Set<String> UI_FILES =
      Set.of(
          "swagger-ui.css",
          "swagger-ui-bundle.js",
          "swagger-ui-standalone-preset.js",
          "favicon-32x32.png");
  private static final Map<String, String> TYPES =
      Map.of("css", "text/css", "js", "application/javascript", "png", "image/png");
  private static final String PAGE =
      """
      <!doctype html>
      <html lang="en"><head><meta charset="utf-8"><title>KosmosX API</title>
      <link rel="stylesheet" href="/docs/swagger-ui.css"></head>
      <body><div id="swagger-ui"></div>
      <script src="/docs/swagger-ui-bundle.js"></script>
      <script>window.ui = SwaggerUIBundle({url: '/openapi.json', dom_id: '#swagger-ui'});</script>
      </body></html>
      """;

  private final JsonNode spec;

  public DocsResource() {
    this.spec = load();
  }

  public static JsonNode load() {
    try (InputStream in = DocsResource.class.getClassLoader().getResourceAsStream(SPEC)) {
      if (in == null) {
        throw new IllegalStateException(SPEC + " is missing from the classpath");
      }
      return new ObjectMapper(new YAMLFactory()).readTree(in);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + SPEC, e);
    }
  }

  @GET
  @Path("openapi.json")
  @Produces(MediaType.APPLICATION_JSON)
  public JsonNode openapi() {
    return spec;
  }

  @GET
  @Path("docs")
  @Produces(MediaType.TEXT_HTML)
  public String ui() {
    return PAGE;
  }

  @GET
  @Path("docs/{file}")
  public Response asset(@PathParam("file") String file) {
    if (!UI_FILES.contains(file)) {
      return Response.status(404).build();
    }
    InputStream in = getClass().getClassLoader().getResourceAsStream(WEBJAR + file);
    if (in == null) {
      return Response.status(404).build();
    }
    String ext = file.substring(file.lastIndexOf('.') + 1);
    return Response.ok(in, TYPES.get(ext)).header("Cache-Control", "public, max-age=86400").build();
  }
}
