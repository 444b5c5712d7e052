package com.kosmosx.platform;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A plain Server-Sent Events reader over Java's HTTP client, event by event, as a client sees the
 * stream: for the tests and the bench of the streaming routes.
 */
public final class SseClient implements AutoCloseable {
  private static final HttpClient HTTP =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  /**
   * One event: its {@code event:} and {@code id:} (null when absent), data, the comments before it,
   * and when it was read ({@link System#nanoTime}).
   */
  public record Event(String event, String id, String data, List<String> comments, long nanos) {}

  public final HttpResponse<InputStream> response;
  private final BufferedReader reader;

  private SseClient(HttpResponse<InputStream> response) {
    this.response = response;
    this.reader =
        new BufferedReader(new InputStreamReader(response.body(), StandardCharsets.UTF_8));
  }

  public static SseClient open(String method, String url, String body, String... headers)
      throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url));
    for (int i = 0; i + 1 < headers.length; i += 2) {
      b.header(headers[i], headers[i + 1]);
    }
    if (body != null) {
      b.header("Content-Type", "application/json");
      b.method(method, HttpRequest.BodyPublishers.ofString(body));
    } else {
      b.method(method, HttpRequest.BodyPublishers.noBody());
    }
    return new SseClient(HTTP.send(b.build(), HttpResponse.BodyHandlers.ofInputStream()));
  }

  /** The next event with data (comments before it are kept on it); null at the end. */
  public Event next() throws IOException {
    String event = null;
    String id = null;
    StringBuilder data = null;
    List<String> comments = new ArrayList<>();
    String line;
    while ((line = reader.readLine()) != null) {
      if (line.isEmpty()) {
        if (data != null) {
          return new Event(event, id, data.toString(), comments, System.nanoTime());
        }
        continue;
      }
      if (line.startsWith(":")) {
        comments.add(line.substring(1).trim());
      } else if (line.startsWith("event:")) {
        event = line.substring(6).trim();
      } else if (line.startsWith("id:")) {
        id = line.substring(3).trim();
      } else if (line.startsWith("data:")) {
        data = data == null ? new StringBuilder() : data.append('\n');
        data.append(line.substring(5).startsWith(" ") ? line.substring(6) : line.substring(5));
      }
    }
    return null;
  }

  /** Every remaining data event, to the end of the stream. */
  public List<Event> rest() throws IOException {
    List<Event> all = new ArrayList<>();
    for (Event e = next(); e != null; e = next()) {
      all.add(e);
    }
    return all;
  }

  /** Goes away mid-stream, as a client whose user closed the tab. */
  @Override
  public void close() throws IOException {
    response.body().close();
  }
}
