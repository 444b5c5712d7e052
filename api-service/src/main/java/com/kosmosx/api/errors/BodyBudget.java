package com.kosmosx.api.errors;

import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * Bounds the heap that large request bodies take at once. Reading a 28 MiB JSON body with a base64
 * image costs about four times its length before the image is decoded (the parser's character
 * buffer, the string, the decoded bytes), so twenty such uploads at once would need 2 GB; the API
 * runs in 384 MB. A request whose body is larger than {@code threshold} (or of unknown length,
 * counted at the limit) takes its length from a shared budget for as long as it is handled, waiting
 * its turn in arrival order; small requests never wait. One that waits longer than {@code maxWait}
 * is answered 503 {@code unavailable} with {@code Retry-After}, after its body is read and
 * discarded, so the client sees the answer instead of a reset connection.
 */
public final class BodyBudget implements Filter {
  private static final int UNIT = 1024; // permits are KiB

  private final long threshold;
  private final long unknownLength;
  private final Semaphore budget;
  private final int budgetUnits;
  private final long maxWaitMillis;

  /**
   * @param budgetBytes declared body bytes handled at once (at least the largest body allowed)
   * @param threshold bodies up to this many bytes pass without the budget
   * @param unknownLength the length counted for a chunked body (the route's limit)
   */
  public BodyBudget(long budgetBytes, long threshold, long unknownLength, long maxWaitMillis) {
    this.threshold = threshold;
    this.unknownLength = unknownLength;
    this.budgetUnits = (int) Math.max(1, budgetBytes / UNIT);
    this.budget = new Semaphore(budgetUnits, true);
    this.maxWaitMillis = maxWaitMillis;
  }

  /** Free budget now, in bytes (tests check every path gives its share back). */
  public long availableBytes() {
    return (long) budget.availablePermits() * UNIT;
  }

  @Override
  public void doFilter(ServletRequest req, ServletResponse res, FilterChain chain)
      throws IOException, ServletException {
    long length = req.getContentLengthLong();
    if (length >= 0 && length <= threshold) {
      chain.doFilter(req, res);
      return;
    }
    if (length < 0 && !hasBody((HttpServletRequest) req)) {
      chain.doFilter(req, res);
      return;
    }
    int units =
        (int) Math.min(budgetUnits, ((length < 0 ? unknownLength : length) + UNIT - 1) / UNIT);
    boolean acquired;
    try {
      acquired = budget.tryAcquire(units, maxWaitMillis, TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      acquired = false;
    }
    if (!acquired) {
      busy(req, (HttpServletResponse) res);
      return;
    }
    try {
      chain.doFilter(req, res);
    } finally {
      budget.release(units);
    }
  }

  private static boolean hasBody(HttpServletRequest req) {
    String te = req.getHeader("Transfer-Encoding");
    return te != null && !te.isBlank();
  }

  private void busy(ServletRequest req, HttpServletResponse res) throws IOException {
    // Drain what the client sends (bounded by the route's limit), streaming, then answer.
    long left = unknownLength + 1;
    byte[] sink = new byte[8192];
    try (InputStream in = req.getInputStream()) {
      int n;
      while (left > 0 && (n = in.read(sink, 0, (int) Math.min(sink.length, left))) > 0) {
        left -= n;
      }
    } catch (IOException ignored) {
      // The client went away; the answer below may not reach it, which is fine.
    }
    res.setStatus(503);
    res.setHeader("Retry-After", "1");
    res.setContentType("application/problem+json");
    res.getOutputStream()
        .write(
            ("{\"type\":\"https://docs.kosmosx.ai/errors/unavailable\",\"title\":\"Service"
                    + " unavailable\",\"status\":503,\"detail\":\"Too many large uploads at once;"
                    + " retry shortly.\",\"code\":\"unavailable\",\"retry_after_seconds\":1}")
                .getBytes(StandardCharsets.UTF_8));
  }
}
