package com.kosmosx.platform;

import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

/**
 * Runs one platform component as a long-lived process for the local stack:
 *
 * <pre>
 *   PlatformMain kafka    DATA_DIR PORT CONTROLLER_PORT [NODE_ID VOTERS]
 *   PlatformMain postgres DATA_DIR PORT [DATABASE]
 * </pre>
 *
 * It stops cleanly on SIGTERM/SIGINT; the data directory is kept, so the next start resumes it.
 */
public final class PlatformMain {
  private PlatformMain() {}

  public static void main(String[] args) throws InterruptedException {
    if (args.length < 3) {
      System.err.println(
          "usage: PlatformMain kafka DATA_DIR PORT CONTROLLER_PORT | postgres DATA_DIR PORT [DB]");
      System.exit(2);
    }
    Path dir = Path.of(args[1]).toAbsolutePath();
    int port = Integer.parseInt(args[2]);
    CountDownLatch stopped = new CountDownLatch(1);
    AutoCloseable component;
    switch (args[0]) {
      case "kafka" -> {
        int controller = Integer.parseInt(args[3]);
        EmbeddedKafka kafka =
            (args.length > 5
                    ? new EmbeddedKafka(
                        dir, Integer.parseInt(args[4]), port, controller, args[5], Map.of())
                    : new EmbeddedKafka(dir, port, controller, Map.of()))
                .start();
        component = kafka;
        System.out.println("kafka ready " + kafka.bootstrapServers());
      }
      case "postgres" -> {
        EmbeddedPostgresServer pg = new EmbeddedPostgresServer(dir, port).start();
        String url = pg.ensureDatabase(args.length > 3 ? args[3] : "kosmos");
        component = pg;
        System.out.println("postgres ready " + url);
      }
      default -> {
        System.err.println("unknown component " + args[0]);
        System.exit(2);
        return;
      }
    }
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  try {
                    component.close();
                  } catch (Exception e) {
                    System.err.println("stop failed: " + e);
                  }
                  stopped.countDown();
                },
                "platform-stop"));
    stopped.await();
  }
}
