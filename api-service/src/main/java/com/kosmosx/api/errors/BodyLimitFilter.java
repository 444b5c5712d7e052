package com.kosmosx.api.errors;

import jakarta.annotation.Priority;
import jakarta.ws.rs.Priorities;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.container.ContainerRequestFilter;
import jakarta.ws.rs.container.PreMatching;
import jakarta.ws.rs.core.HttpHeaders;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;

/**
 * Refuses bodies over the limit with 413 before anything reads them: by Content-Length when the
 * client sends one, and by counting bytes for chunked bodies.
 */
@PreMatching
@Priority(Priorities.HEADER_DECORATOR)
public final class BodyLimitFilter implements ContainerRequestFilter {
  /** Submissions whose body may carry an image. */
  private static final java.util.Set<String> CARRIES_IMAGES =
      java.util.Set.of("v1/jobs", "v1/chat/completions");

  private final long defaultMaxBytes;
  private final long jobMaxBytes;

  /**
   * @param jobMaxBytes the limit of {@code POST /v1/jobs} and {@code POST /v1/chat/completions},
   *     whose bodies may carry an image
   */
  public BodyLimitFilter(long maxBytes, long jobMaxBytes) {
    this.defaultMaxBytes = maxBytes;
    this.jobMaxBytes = jobMaxBytes;
  }

  @Override
  public void filter(ContainerRequestContext ctx) {
    String path = ctx.getUriInfo().getPath();
    long maxBytes =
        "POST".equals(ctx.getMethod()) && CARRIES_IMAGES.contains(path.replaceFirst("^/", ""))
            ? jobMaxBytes
            : defaultMaxBytes;
    String length = ctx.getHeaderString(HttpHeaders.CONTENT_LENGTH);
    if (length != null) {
      long n;
      try {
        n = Long.parseLong(length.trim());
      } catch (NumberFormatException e) {
        throw ApiProblem.validation("Content-Length is not a number.");
      }
      if (n > maxBytes) {
        throw tooLarge(maxBytes);
      }
    } else if (ctx.hasEntity()) {
      ctx.setEntityStream(new Limited(ctx.getEntityStream(), maxBytes));
    }
  }

  private static ApiProblem tooLarge(long maxBytes) {
    return new ApiProblem(
        413,
        "payload_too_large",
        "Payload too large",
        "The request body exceeds " + maxBytes + " bytes.",
        java.util.Map.of("max_bytes", maxBytes));
  }

  private static final class Limited extends FilterInputStream {
    private final long limit;
    private long remaining;

    Limited(InputStream in, long limit) {
      super(in);
      this.limit = limit;
      this.remaining = limit;
    }

    @Override
    public int read() throws IOException {
      int b = super.read();
      if (b >= 0 && --remaining < 0) {
        throw tooLarge(limit);
      }
      return b;
    }

    @Override
    public int read(byte[] buf, int off, int len) throws IOException {
      int n = super.read(buf, off, len);
      if (n > 0) {
        remaining -= n;
        if (remaining < 0) {
          throw tooLarge(limit);
        }
      }
      return n;
    }
  }
}
