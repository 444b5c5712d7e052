package com.kosmosx.localstack;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;

/**
 * {@code ./kosmos up | up -d | down | status}: runs PostgreSQL, Kafka and the three services as
 * separate processes with working defaults, waits until all are healthy and prints how to call the
 * API. In the foreground, Ctrl-C stops everything in reverse order; the data stays.
 */
public final class LocalStack {
  private static final Duration START_TIMEOUT = Duration.ofMinutes(5);
  private static final Duration STOP_TIMEOUT = Duration.ofSeconds(30);
  private static final HttpClient HTTP =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

  private final StackLayout layout;
  private final String classpath;
  private final String javaBin;
  private final java.util.Map<String, Long> readyAfterMillis =
      java.util.Collections.synchronizedMap(new java.util.LinkedHashMap<>());

  public LocalStack(StackLayout layout, String classpath) {
    this.layout = layout;
    this.classpath = classpath;
    this.javaBin = Path.of(System.getProperty("java.home"), "bin", "java").toString();
  }

  public static void main(String[] args) throws Exception {
    Path root = Path.of(System.getProperty("kosmos.root", ".")).toAbsolutePath().normalize();
    StackLayout layout = StackLayout.fromEnvironment(root, System.getenv());
    LocalStack stack = new LocalStack(layout, System.getProperty("java.class.path"));
    String cmd = args.length == 0 ? "up" : args[0];
    boolean detached = args.length > 1 && args[1].equals("-d");
    int rc =
        switch (cmd) {
          case "up" -> stack.up(detached);
          case "down" -> stack.down();
          case "status" -> stack.status();
          default -> {
            System.err.println("usage: kosmos up [-d] | down | status");
            yield 2;
          }
        };
    System.exit(rc);
  }

  /**
   * Kills a service with SIGKILL, as a crash (no shutdown hook runs), and waits for it to exit;
   * nothing happens if it is not running. For crash tests and the soak.
   */
  public void kill9(String service) throws Exception {
    Path pidFile = layout.run().resolve(service + ".pid");
    if (!Files.exists(pidFile)) {
      return;
    }
    long pid = Long.parseLong(Files.readString(pidFile).split(" ")[0]);
    var h = ProcessHandle.of(pid);
    if (h.isPresent()) {
      h.get().destroyForcibly();
      h.get().onExit().get(30, java.util.concurrent.TimeUnit.SECONDS);
    }
  }

  /** Stops one service gracefully (SIGTERM, SIGKILL after the timeout); no-op if not running. */
  public void stop(String service) {
    layout.services().stream()
        .filter(s -> s.name().equals(service))
        .forEach(s -> stopAll(List.of(s)));
  }

  /** The running process of a service, if any (for the benchmark's memory figures). */
  public Optional<ProcessHandle> process(String service) {
    return layout.services().stream()
        .filter(s -> s.name().equals(service))
        .findFirst()
        .flatMap(this::running);
  }

  /**
   * For the last {@link #up}: milliseconds from its start until each service it started was
   * healthy, in start order.
   */
  public java.util.Map<String, Long> readyAfterMillis() {
    return java.util.Map.copyOf(readyAfterMillis);
  }

  /** Starts what is not running, waits for health; in the foreground, waits for Ctrl-C. */
  public int up(boolean detached) throws Exception {
    Files.createDirectories(layout.logs());
    Files.createDirectories(layout.run());
    Files.createDirectories(layout.data());
    List<ServiceSpec> started = new ArrayList<>();
    readyAfterMillis.clear();
    long t0 = System.nanoTime();
    for (ServiceSpec s : layout.services()) {
      if (running(s).isPresent()) {
        System.out.printf("  %-9s already running%n", s.name());
        continue;
      }
      start(s, detached);
      started.add(s);
      try {
        awaitReady(s);
      } catch (IllegalStateException e) {
        System.err.println("  " + s.name() + " did not become healthy: " + e.getMessage());
        System.err.println("  see " + layout.logs().resolve(s.name() + ".log"));
        stopAll(started);
        return 1;
      }
      readyAfterMillis.put(s.name(), (System.nanoTime() - t0) / 1_000_000);
      System.out.printf("  %-9s healthy%n", s.name());
    }
    printWelcome((System.nanoTime() - t0) / 1_000_000);
    if (detached) {
      return 0;
    }
    CountDownLatch stopped = new CountDownLatch(1);
    java.util.concurrent.atomic.AtomicBoolean stopping =
        new java.util.concurrent.atomic.AtomicBoolean();
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  stopping.set(true);
                  System.out.println("\nStopping the local stack (data is kept)...");
                  stopAll(layout.services());
                  stopped.countDown();
                }));
    // Also end when a service dies on its own, so a crash is not hidden behind a quiet terminal.
    while (true) {
      if (stopping.get()) {
        // Ctrl-C: the shutdown hook stops everything; the JVM exits when it is done.
        stopped.await();
        return 0;
      }
      for (ServiceSpec s : layout.services()) {
        if (running(s).isEmpty() && !stopping.get()) {
          System.err.println(s.name() + " exited; see " + layout.logs().resolve(s.name() + ".log"));
          return 1;
        }
      }
      Thread.sleep(1000);
    }
  }

  public int down() {
    stopAll(layout.services());
    System.out.println("Local stack stopped; data kept in " + layout.data());
    return 0;
  }

  public int status() {
    int rc = 0;
    for (ServiceSpec s : layout.services()) {
      Optional<ProcessHandle> p = running(s);
      System.out.printf(
          "  %-9s %s%n", s.name(), p.map(h -> "running (pid " + h.pid() + ")").orElse("stopped"));
      if (p.isEmpty()) {
        rc = 1;
      }
    }
    return rc;
  }

  private void start(ServiceSpec s, boolean detached) throws IOException {
    Path log = layout.logs().resolve(s.name() + ".log");
    List<String> cmd = new ArrayList<>();
    if (Files.isExecutable(Path.of("/usr/bin/setsid"))) {
      // Own session: Ctrl-C in the terminal reaches only this launcher, which then stops the
      // services in order, and with -d they outlive the launcher and the terminal. setsid stays
      // as the parent (--wait), so the pid file names a process that lives as long as the service.
      cmd.addAll(List.of("/usr/bin/setsid", "--fork", "--wait"));
    }
    cmd.addAll(
        List.of(
            javaBin,
            "-Xmx" + s.heap(),
            "-XX:+ExitOnOutOfMemoryError",
            "-Dai.djl.offline=true",
            "-cp",
            classpath,
            s.mainClass()));
    cmd.addAll(s.args());
    ProcessBuilder pb = new ProcessBuilder(cmd).directory(layout.root().toFile());
    pb.environment().putAll(s.env());
    pb.redirectErrorStream(true);
    pb.redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
    Process launched = pb.start();
    ProcessHandle p = serviceProcess(launched);
    // pid and start time: a pid reused by an unrelated process after a reboot is not "running".
    String started = p.info().startInstant().map(i -> Long.toString(i.toEpochMilli())).orElse("0");
    Files.writeString(pidFile(s), p.pid() + " " + started);
    System.out.printf("  %-9s starting (pid %d, log %s)%n", s.name(), p.pid(), log);
  }

  /**
   * The service JVM itself: under setsid it is the forked child (setsid stays in our process group
   * and dies with Ctrl-C; the service must not).
   */
  private static ProcessHandle serviceProcess(Process launched) throws IOException {
    if (!launched.info().command().map(c -> c.endsWith("setsid")).orElse(false)) {
      return launched.toHandle();
    }
    long end = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    while (System.nanoTime() < end) {
      Optional<ProcessHandle> child = launched.children().findFirst();
      if (child.isPresent()) {
        return child.get();
      }
      if (!launched.isAlive()) {
        break;
      }
      try {
        Thread.sleep(10);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    throw new IOException("the service process did not start");
  }

  private void awaitReady(ServiceSpec s) throws Exception {
    long end = System.nanoTime() + START_TIMEOUT.toNanos();
    Path log = layout.logs().resolve(s.name() + ".log");
    while (System.nanoTime() < end) {
      if (running(s).isEmpty()) {
        throw new IllegalStateException("the process exited");
      }
      if (s.readyLogLine() != null && Files.exists(log)) {
        if (Files.readString(log, StandardCharsets.ISO_8859_1).contains(s.readyLogLine())) {
          return;
        }
      }
      if (s.healthUrl() != null && healthy(s.healthUrl())) {
        return;
      }
      Thread.sleep(250);
    }
    throw new IllegalStateException("not ready within " + START_TIMEOUT.toMinutes() + " minutes");
  }

  static boolean healthy(String url) {
    try {
      HttpResponse<Void> r =
          HTTP.send(
              HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(5)).build(),
              HttpResponse.BodyHandlers.discarding());
      return r.statusCode() == 200;
    } catch (IOException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  private Path pidFile(ServiceSpec s) {
    return layout.run().resolve(s.name() + ".pid");
  }

  private Optional<ProcessHandle> running(ServiceSpec s) {
    try {
      Path f = pidFile(s);
      if (!Files.exists(f)) {
        return Optional.empty();
      }
      String[] parts = Files.readString(f).trim().split(" ");
      long pid = Long.parseLong(parts[0]);
      long started = parts.length > 1 ? Long.parseLong(parts[1]) : 0;
      return ProcessHandle.of(pid)
          .filter(ProcessHandle::isAlive)
          .filter(
              h ->
                  started == 0
                      || h.info()
                          .startInstant()
                          .map(i -> i.toEpochMilli() == started)
                          .orElse(true));
    } catch (IOException | NumberFormatException e) {
      return Optional.empty();
    }
  }

  /** Stops in reverse start order: SIGTERM, then SIGKILL after the timeout. */
  private void stopAll(List<ServiceSpec> services) {
    List<ServiceSpec> reversed = new ArrayList<>(services);
    java.util.Collections.reverse(reversed);
    for (ServiceSpec s : reversed) {
      running(s)
          .ifPresent(
              h -> {
                // SIGTERM runs the service's shutdown hooks; SIGKILL only after the timeout.
                long t0 = System.nanoTime();
                h.destroy();
                try {
                  h.onExit().get(STOP_TIMEOUT.toSeconds(), java.util.concurrent.TimeUnit.SECONDS);
                } catch (Exception e) {
                  h.destroyForcibly();
                }
                System.out.printf(
                    "  %-9s stopped (%d ms)%n", s.name(), (System.nanoTime() - t0) / 1_000_000);
              });
      try {
        Files.deleteIfExists(pidFile(s));
      } catch (IOException e) {
        System.err.println("cannot remove " + pidFile(s) + ": " + e.getMessage());
      }
    }
  }

  private void printWelcome(long millis) {
    String api = layout.apiUrl();
    System.out.println();
    System.out.println("KosmosX local stack is up (" + millis + " ms).");
    System.out.println("  API          " + api);
    System.out.println("  API admin    http://localhost:" + layout.apiAdminPort() + "/healthcheck");
    System.out.println(
        "  worker admin http://localhost:" + layout.workerAdminPort() + "/healthcheck");
    System.out.println(
        "  metering     http://localhost:" + layout.meteringAdminPort() + "/healthcheck");
    System.out.println("  Kafka        " + layout.kafkaBootstrap());
    System.out.println("  PostgreSQL   " + layout.jdbcUrl() + " (user postgres)");
    System.out.println("  logs         " + layout.logs());
    System.out.println();
    System.out.println("Try it (paste into a shell):");
    System.out.println();
    System.out.println(curlTour(api));
    System.out.println();
  }

  /** The ready-to-paste tour: create an account, submit a text job, poll it. */
  static String curlTour(String api) {
    return String.join(
        "\n",
        "KEY=$(curl -s -X POST " + api + "/v1/accounts -H 'Content-Type: application/json' \\",
        "  -d '{\"username\":\"demo'$RANDOM'\",\"email\":\"demo@example.com\",\"password\":\"correct horse battery\"}' \\",
        "  | sed -n 's/.*\"key\":\"\\([^\"]*\\)\".*/\\1/p'); echo \"key: $KEY\"",
        "JOB=$(curl -s -X POST " + api + "/v1/jobs -H \"Authorization: Bearer $KEY\" \\",
        "  -H 'Content-Type: application/json' \\",
        "  -d '{\"type\":\"text\",\"input\":{\"prompt\":\"Once upon a time\",\"max_tokens\":32}}' \\",
        "  | sed -n 's/^{\"id\":\"\\([^\"]*\\)\".*/\\1/p'); echo \"job: $JOB\"",
        "for i in $(seq 1 40); do OUT=$(curl -s "
            + api
            + "/v1/jobs/$JOB -H \"Authorization: Bearer $KEY\");",
        "  case \"$OUT\" in *'\"status\":\"succeeded\"'*|*'\"status\":\"failed\"'*) break;; esac; sleep 0.5; done; echo \"$OUT\"");
  }
}
