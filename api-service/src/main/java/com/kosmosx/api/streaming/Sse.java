package com.kosmosx.api.streaming;

import java.io.IOException;
import org.glassfish.jersey.server.ChunkedOutput;

/**
 * Writes Server-Sent Events, each one sent at once: through Jersey's {@link ChunkedOutput}, which
 * flushes every chunk (a plain entity stream is buffered until 8 KiB or the end). Data is one line
 * (JSON, or the literal {@code [DONE]}); a write to a client that went away throws {@link
 * IOException}.
 */
public final class Sse implements AutoCloseable {
  private final ChunkedOutput<String> out;

  public Sse(ChunkedOutput<String> out) {
    this.out = out;
  }

  /** A new chunked SSE body, to return as the response's entity. */
  public static ChunkedOutput<String> body() {
    return new ChunkedOutput<>(String.class);
  }

  @Override
  public void close() {
    try {
      out.close();
    } catch (IOException ignored) {
      // the client is gone already
    }
  }

  public void event(String event, String id, String data) throws IOException {
    StringBuilder b = new StringBuilder(data.length() + 48);
    if (event != null) {
      b.append("event: ").append(event).append('\n');
    }
    if (id != null) {
      b.append("id: ").append(id).append('\n');
    }
    b.append("data: ").append(data).append("\n\n");
    write(b.toString());
  }

  public void data(String data) throws IOException {
    event(null, null, data);
  }

  /** A comment line: ignored by every client; keeps the connection alive and detects its loss. */
  public void comment(String text) throws IOException {
    write(": " + text + "\n\n");
  }

  /** How long a client waits before reconnecting (native event streams). */
  public void retry(long millis) throws IOException {
    write("retry: " + millis + "\n\n");
  }

  private void write(String s) throws IOException {
    if (out.isClosed()) {
      throw new IOException("the stream is closed");
    }
    out.write(s);
  }
}
