package com.kosmosx.platform;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;

/** Loopback port helpers. */
public final class Ports {
  private Ports() {}

  /** Ports handed out by this JVM: the kernel may offer a just-closed port again. */
  private static final java.util.Set<Integer> GIVEN =
      java.util.concurrent.ConcurrentHashMap.newKeySet();

  /**
   * A port that was free a moment ago and that this JVM has not handed out before (the usual race
   * with other processes applies; fine for tests). Without the second rule one stack's Kafka was
   * once given the same port for its listener and its controller.
   */
  public static int free() {
    for (int attempt = 0; attempt < 1_000; attempt++) {
      try (ServerSocket s = new ServerSocket(0)) {
        s.setReuseAddress(true);
        if (GIVEN.add(s.getLocalPort())) {
          return s.getLocalPort();
        }
      } catch (IOException e) {
        throw new UncheckedIOException("no free port", e);
      }
    }
    throw new IllegalStateException("no free port not handed out before");
  }

  public static boolean isOpen(int port) {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", port), 200);
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  public static void awaitOpen(int port, Duration timeout) {
    long end = System.nanoTime() + timeout.toNanos();
    while (!isOpen(port)) {
      if (System.nanoTime() > end) {
        throw new IllegalStateException("port " + port + " did not open within " + timeout);
      }
      sleep(50);
    }
  }

  static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }
}
