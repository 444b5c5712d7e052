package com.kosmosx.api.openai;

import com.kosmosx.api.errors.ApiProblem;
import com.kosmosx.api.jobs.ImageNormalizer;
import com.kosmosx.api.webhooks.WebhookUrlPolicy;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;

/**
 * Fetches an {@code image_url} given as http(s) once, at submit, under the webhooks' SSRF policy
 * (public addresses only, no redirects followed, no credentials) and the upload size limit; the job
 * then carries the picture like any upload, so the worker never reaches out.
 */
public final class ImageFetcher {
  private final WebhookUrlPolicy policy;
  private final HttpClient http;
  private final Duration timeout;

  public ImageFetcher(WebhookUrlPolicy policy, Duration timeout) {
    this.policy = policy;
    this.timeout = timeout;
    this.http =
        HttpClient.newBuilder()
            .followRedirects(HttpClient.Redirect.NEVER)
            .connectTimeout(timeout)
            .build();
  }

  /** The image's bytes (at most {@link ImageNormalizer#MAX_BYTES} + 1; the normaliser says 413). */
  public byte[] fetch(String url, String param) {
    URI uri;
    try {
      uri = policy.check(url);
    } catch (ApiProblem p) {
      throw invalid(
          p.getMessage().replace("webhook", "image").replace("'webhook.url'", param), param);
    }
    HttpRequest req =
        HttpRequest.newBuilder(uri)
            .timeout(timeout)
            .header("Accept", "image/*")
            .header("User-Agent", "KosmosX-image-fetch/1")
            .GET()
            .build();
    HttpResponse<InputStream> res;
    try {
      res = http.send(req, HttpResponse.BodyHandlers.ofInputStream());
    } catch (IOException e) {
      throw invalid(
          "The image at "
              + uri.getHost()
              + " could not be fetched: "
              + e.getClass().getSimpleName(),
          param);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw invalid("The image fetch was interrupted.", param);
    }
    // The whole body within the timeout too: a host that drips bytes is cut off, not waited for.
    InputStream body = res.body();
    java.util.concurrent.ScheduledFuture<?> cut =
        CUTOFF.schedule(
            () -> {
              try {
                body.close();
              } catch (IOException ignored) {
                // already closed
              }
            },
            timeout.toMillis(),
            java.util.concurrent.TimeUnit.MILLISECONDS);
    try (InputStream in = body) {
      if (res.statusCode() != 200) {
        throw invalid(
            "Fetching the image answered HTTP "
                + res.statusCode()
                + " (redirects are not followed).",
            param);
      }
      return in.readNBytes(ImageNormalizer.MAX_BYTES + 1);
    } catch (IOException e) {
      throw invalid(
          "The image could not be read within " + timeout.toSeconds() + " s: " + e.getMessage(),
          param);
    } finally {
      cut.cancel(false);
    }
  }

  private static final java.util.concurrent.ScheduledExecutorService CUTOFF =
      java.util.concurrent.Executors.newSingleThreadScheduledExecutor(
          r -> {
            Thread t = new Thread(r, "image-fetch-cutoff");
            t.setDaemon(true);
            return t;
          });

  private static ApiProblem invalid(String detail, String param) {
    return new ApiProblem(
        400, "invalid_image_url", "Invalid image URL", detail, Map.of("field", param));
  }
}
