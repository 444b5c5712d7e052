package com.kosmosx.bench;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Predicate;

/**
 * A small HTTP/1.1 load generator: keep-alive connections, one thread each, requests written as
 * prepared bytes and answers parsed just enough (status, Content-Length or chunked body). It is far
 * cheaper per request than a general client, which matters when the generator and the server share
 * two cores: what it costs is taken from the server equally for the endpoint measured and its
 * baseline.
 *
 * <p>Closed loop measures capacity: each connection sends its next request when the previous answer
 * has arrived. Open loop measures latency at a given load: requests are due on a fixed schedule and
 * latency is taken from when each was due, so a stall counts for every request it delays (no
 * coordinated omission).
 */
final class HttpLoad {
  private HttpLoad() {}

  /** What a run measured: completed requests in the window, failures, latencies. */
  record Result(long requests, long failures, double seconds, long[] sortedLatencyNanos) {
    double perSecond() {
      return requests / seconds;
    }

    /** The p-th percentile latency in milliseconds (nearest rank). */
    double percentileMillis(double p) {
      return percentile(sortedLatencyNanos, p) / 1e6;
    }

    @Override
    public String toString() {
      return String.format(
          Locale.ROOT,
          "%.0f/s, p50 %.1f ms, p99 %.1f ms (%d requests, %d failed)",
          perSecond(),
          percentileMillis(50),
          percentileMillis(99),
          requests,
          failures);
    }
  }

  static long percentile(long[] sorted, double p) {
    if (sorted.length == 0) {
      return -1;
    }
    int rank = (int) Math.ceil(p / 100.0 * sorted.length);
    return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))];
  }

  /** The bytes of one request. */
  static byte[] request(
      String method, String path, int port, String auth, String extraHeader, String body) {
    byte[] b = body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8);
    StringBuilder h = new StringBuilder();
    h.append(method).append(' ').append(path).append(" HTTP/1.1\r\n");
    h.append("Host: localhost:").append(port).append("\r\n");
    if (auth != null) {
      h.append("Authorization: Bearer ").append(auth).append("\r\n");
    }
    if (extraHeader != null) {
      h.append(extraHeader).append("\r\n");
    }
    if (body != null) {
      h.append("Content-Type: application/json\r\n");
      h.append("Content-Length: ").append(b.length).append("\r\n");
    }
    h.append("\r\n");
    byte[] head = h.toString().getBytes(StandardCharsets.US_ASCII);
    byte[] out = Arrays.copyOf(head, head.length + b.length);
    System.arraycopy(b, 0, out, head.length, b.length);
    return out;
  }

  /** Closed loop on {@code connections} connections: warm-up, then a measured window. */
  static Result closedLoop(
      int port,
      java.util.function.IntFunction<byte[]> request,
      Predicate<Answer> ok,
      int connections,
      Duration warmup,
      Duration window)
      throws InterruptedException {
    long start = System.nanoTime();
    long from = start + warmup.toNanos();
    long to = from + window.toNanos();
    return run(
        connections,
        (conn, index, lat, failures) -> {
          byte[] bytes = request.apply(index);
          while (true) {
            long t0 = System.nanoTime();
            if (t0 >= to) {
              return;
            }
            Answer a = conn.exchange(bytes);
            long t1 = System.nanoTime();
            if (t0 >= from && t1 <= to) {
              if (ok.test(a)) {
                lat.add(t1 - t0);
              } else {
                failures.incrementAndGet();
              }
            }
          }
        },
        port,
        window);
  }

  /**
   * Open loop: {@code rate} requests per second spread over the connections for the window (after a
   * warm-up at the same rate); latency from each request's due time to its answer.
   */
  static Result openLoop(
      int port,
      java.util.function.IntFunction<byte[]> request,
      Predicate<Answer> ok,
      int connections,
      double rate,
      Duration warmup,
      Duration window)
      throws InterruptedException {
    long start = System.nanoTime() + 50_000_000; // let every thread get ready
    long from = start + warmup.toNanos();
    long to = from + window.toNanos();
    double interval = 1e9 / rate;
    AtomicLong nextSlot = new AtomicLong();
    return run(
        connections,
        (conn, index, lat, failures) -> {
          byte[] bytes = request.apply(index);
          while (true) {
            long slot = nextSlot.getAndIncrement();
            long due = start + (long) (slot * interval);
            if (due >= to) {
              return;
            }
            long wait = due - System.nanoTime();
            if (wait > 0) {
              LockSupport.parkNanos(wait); // sleep, never spin: the server needs the cores
            }
            Answer a = conn.exchange(bytes);
            long t1 = System.nanoTime();
            if (due >= from) {
              if (ok.test(a)) {
                lat.add(t1 - due);
              } else {
                failures.incrementAndGet();
              }
            }
          }
        },
        port,
        window);
  }

  private interface Loop {
    void run(Connection c, int index, Latencies lat, AtomicLong failures) throws IOException;
  }

  private static Result run(int connections, Loop loop, int port, Duration window)
      throws InterruptedException {
    List<Thread> threads = new ArrayList<>();
    List<Latencies> all = new ArrayList<>();
    AtomicLong failures = new AtomicLong();
    List<Throwable> errors = java.util.Collections.synchronizedList(new ArrayList<>());
    for (int i = 0; i < connections; i++) {
      Latencies lat = new Latencies();
      all.add(lat);
      int index = i;
      Thread t =
          new Thread(
              () -> {
                try (Connection c = new Connection(port)) {
                  loop.run(c, index, lat, failures);
                } catch (IOException e) {
                  errors.add(e);
                }
              },
              "load-" + i);
      threads.add(t);
      t.start();
    }
    for (Thread t : threads) {
      t.join();
    }
    if (!errors.isEmpty()) {
      throw new IllegalStateException("load connections failed: " + errors.get(0), errors.get(0));
    }
    int n = all.stream().mapToInt(l -> l.size).sum();
    long[] merged = new long[n];
    int at = 0;
    for (Latencies l : all) {
      System.arraycopy(l.values, 0, merged, at, l.size);
      at += l.size;
    }
    Arrays.sort(merged);
    return new Result(n, failures.get(), window.toNanos() / 1e9, merged);
  }

  /** A growable array of latencies, one per thread. */
  private static final class Latencies {
    long[] values = new long[4096];
    int size;

    void add(long v) {
      if (size == values.length) {
        values = Arrays.copyOf(values, size * 2);
      }
      values[size++] = v;
    }
  }

  /** A response: status and body. */
  record Answer(int status, String body) {}

  /** One keep-alive connection; reconnects when the server closes it. */
  static final class Connection implements AutoCloseable {
    private final int port;
    private Socket socket;
    private InputStream in;
    private OutputStream out;

    Connection(int port) throws IOException {
      this.port = port;
      connect();
    }

    private void connect() throws IOException {
      socket = new Socket("127.0.0.1", port);
      socket.setTcpNoDelay(true);
      in = new BufferedInputStream(socket.getInputStream(), 16_384);
      out = socket.getOutputStream();
    }

    Answer exchange(byte[] request) throws IOException {
      try {
        return send(request);
      } catch (IOException e) {
        close(); // the server may have closed an idle connection: one fresh try
        connect();
        return send(request);
      }
    }

    private Answer send(byte[] request) throws IOException {
      out.write(request);
      out.flush();
      String status = line();
      if (status == null) {
        throw new IOException("connection closed");
      }
      int code = Integer.parseInt(status.substring(9, 12));
      long length = -1;
      boolean chunked = false;
      boolean closes = false;
      String h;
      while (!(h = headerLine()).isEmpty()) {
        String lower = h.toLowerCase(Locale.ROOT);
        if (lower.startsWith("content-length:")) {
          length = Long.parseLong(lower.substring(15).trim());
        } else if (lower.startsWith("transfer-encoding:") && lower.contains("chunked")) {
          chunked = true;
        } else if (lower.startsWith("connection:") && lower.contains("close")) {
          closes = true;
        }
      }
      ByteArrayOutputStream body = new ByteArrayOutputStream();
      if (chunked) {
        long size;
        while ((size = Long.parseLong(headerLine().split(";")[0].trim(), 16)) > 0) {
          body.write(in.readNBytes((int) size));
          headerLine();
        }
        while (!headerLine().isEmpty()) {
          // trailers
        }
      } else if (length > 0) {
        body.write(in.readNBytes((int) length));
      }
      if (closes) {
        close();
        connect();
      }
      return new Answer(code, body.toString(StandardCharsets.UTF_8));
    }

    private String headerLine() throws IOException {
      String l = line();
      if (l == null) {
        throw new IOException("connection closed mid-response");
      }
      return l;
    }

    private String line() throws IOException {
      StringBuilder b = new StringBuilder();
      int c;
      while ((c = in.read()) != -1) {
        if (c == '\n') {
          int n = b.length();
          return n > 0 && b.charAt(n - 1) == '\r' ? b.substring(0, n - 1) : b.toString();
        }
        b.append((char) c);
      }
      if (b.length() == 0) {
        return null;
      }
      throw new IOException("connection closed mid-line");
    }

    @Override
    public void close() {
      try {
        socket.close();
      } catch (IOException e) {
        // closing
      }
    }
  }
}
