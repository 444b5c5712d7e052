package com.kosmosx.localstack;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
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
    boolean flag = args.length > 1 && (args[1].equals("-d") || args[1].equals("--yes"));
    int rc =
        switch (cmd) {
          case "up" -> flag ? stack.upDetached() : stack.upSupervised(false);
          case "supervise" -> stack.upSupervised(true);
          case "down" -> stack.down();
          case "status" -> stack.status();
          case "reset" -> stack.reset(flag);
          default -> {
            System.err.println("usage: kosmos up [-d] | down | status | reset [--yes]");
            yield 2;
          }
        };
    System.exit(rc);
  }

  /** A service process this launcher started. */
  record Started(
      Process launched, ProcessHandle handle, long logOffset, long atMillis, boolean viaSetsid) {}

  boolean isRunning(ServiceSpec s) {
    return running(s).isPresent();
  }

  /** {@code 3 s}, {@code 4 min 12 s}, {@code 2 h 5 min}. */
  static String human(long millis) {
    long s = millis / 1000;
    if (s < 60) {
      return s + " s";
    }
    if (s < 3600) {
      return s / 60 + " min " + s % 60 + " s";
    }
    return s / 3600 + " h " + s % 3600 / 60 + " min";
  }

  private Path supervisorPid() {
    return layout.run().resolve("supervisor.pid");
  }

  /** The background supervisor ({@code up -d}), if one runs. */
  Optional<ProcessHandle> supervisor() {
    return alive(supervisorPid());
  }

  /**
   * {@code ./kosmos up} (in the foreground) and the background supervisor of {@code up -d}: starts
   * what is not running, waits for health, then keeps every service running (see {@link
   * Supervisor}) until stopped: Ctrl-C, or SIGTERM from {@code down}, stops the services too.
   */
  public int upSupervised(boolean background) throws Exception {
    Files.createDirectories(layout.run());
    if (background) {
      ProcessHandle me = ProcessHandle.current();
      Files.writeString(
          supervisorPid(),
          me.pid()
              + " "
              + me.info().startInstant().map(i -> Long.toString(i.toEpochMilli())).orElse("0"));
    }
    java.util.concurrent.atomic.AtomicBoolean stopping =
        new java.util.concurrent.atomic.AtomicBoolean();
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  stopping.set(true);
                  System.out.println("\nStopping the local stack (data is kept)...");
                  stopAll(layout.services());
                  if (background) {
                    try {
                      Files.deleteIfExists(supervisorPid());
                    } catch (IOException e) {
                      System.err.println("cannot remove " + supervisorPid());
                    }
                  }
                  stopped.countDown();
                }));
    Supervisor supervisor = new Supervisor(this, layout, Supervisor.Settings.DEFAULT, System.out);
    int rc = startAll(supervisor);
    if (rc != 0) {
      return rc;
    }
    System.out.println(SUPERVISING);
    System.out.flush();
    supervisor.run(stopping::get);
    stopped.await();
    return 0;
  }

  /** The line the supervisor prints once the stack is up and supervised. */
  static final String SUPERVISING = "[kosmos] supervising: a service that exits is restarted.";

  /**
   * {@code ./kosmos up -d}: starts the supervisor in the background (its own session, so it
   * outlives this terminal), shows its output until the stack is up, and returns; {@code down}
   * stops it.
   */
  public int upDetached() throws Exception {
    Files.createDirectories(layout.logs());
    Files.createDirectories(layout.run());
    Optional<ProcessHandle> running = supervisor();
    if (running.isPresent()) {
      System.out.println(
          "The local stack is already up (supervisor pid " + running.get().pid() + ").");
      return status();
    }
    Path log = layout.logs().resolve("supervisor.log");
    long offset = Files.exists(log) ? Files.size(log) : 0;
    List<String> cmd = new ArrayList<>();
    if (Files.isExecutable(Path.of("/usr/bin/setsid"))) {
      cmd.addAll(List.of("/usr/bin/setsid", "--fork"));
    }
    cmd.addAll(List.of(javaBin, "-Xmx128m"));
    cmd.addAll(JVM_FLAGS);
    cmd.addAll(
        List.of(
            "-Dkosmos.root=" + layout.root(),
            "-cp",
            classpath,
            LocalStack.class.getName(),
            "supervise"));
    ProcessBuilder pb = new ProcessBuilder(cmd).directory(layout.root().toFile());
    pb.environment().putAll(layout.settings());
    pb.redirectErrorStream(true);
    pb.redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
    pb.start();
    // Show what the supervisor prints until the stack is up, or it gives up.
    long end = System.nanoTime() + START_TIMEOUT.plusMinutes(1).toNanos();
    long shown = offset;
    boolean seenSupervisor = false;
    boolean failed = false;
    while (System.nanoTime() < end) {
      long size = Files.exists(log) ? Files.size(log) : 0;
      if (size > shown) {
        List<String> lines = Supervisor.lines(log, shown);
        shown = size;
        for (String l : lines) {
          if (l.contains("did not become healthy")) {
            failed = true;
          }
          if (l.equals(SUPERVISING)) {
            System.out.println(
                "Supervised in the background (log " + log + "); ./kosmos down stops it.");
            return 0;
          }
          System.out.println(l);
        }
      }
      Optional<ProcessHandle> sup = supervisor();
      seenSupervisor |= sup.isPresent();
      if ((seenSupervisor || failed) && sup.isEmpty()) {
        System.err.println("The local stack did not start; see " + log);
        return 1;
      }
      Thread.sleep(200);
    }
    System.err.println("The local stack did not start in time; see " + log);
    return 1;
  }

  /** {@code ./kosmos reset --yes}: stops the stack and deletes its data, logs and state. */
  public int reset(boolean confirmed) throws IOException {
    if (!confirmed) {
      System.err.println(
          "This stops the local stack and deletes "
              + layout.data()
              + " (databases, topics, model state), its logs and pid files.\n"
              + "Run: ./kosmos reset --yes");
      return 2;
    }
    down();
    Files.deleteIfExists(layout.home().resolve("topology.env"));
    for (Path p : List.of(layout.data(), layout.run(), layout.logs())) {
      deleteTree(p);
    }
    System.out.println("Local stack reset: the next ./kosmos up starts from nothing.");
    return 0;
  }

  private static void deleteTree(Path p) throws IOException {
    if (!Files.exists(p)) {
      return;
    }
    try (var walk = Files.walk(p)) {
      for (Path f : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(f);
      }
    }
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

  /**
   * Starts what is not running and waits for health, without supervision (tests, the soak and the
   * bench kill services on purpose and restart them themselves); in the foreground, waits for
   * Ctrl-C and ends if a service dies.
   */
  public int up(boolean detached) throws Exception {
    int rc = startAll(null);
    if (rc != 0 || detached) {
      return rc;
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
    while (true) {
      if (stopping.get()) {
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

  /**
   * Starts every service not running, in two waves: the platform (PostgreSQL and Kafka's nodes)
   * together, then, once it is healthy, the services (APIs, workers, metering) together. Each
   * service ensures the topics it uses itself and the APIs' migrations take Liquibase's lock, so
   * none waits for another; on two cores, three JVMs starting side by side were ready seconds
   * sooner than one after another (./kosmos bench, cold start).
   */
  private int startAll(Supervisor supervisor) throws Exception {
    Files.createDirectories(layout.logs());
    Files.createDirectories(layout.run());
    Files.createDirectories(layout.data());
    List<ServiceSpec> started = new ArrayList<>();
    readyAfterMillis.clear();
    long t0 = System.nanoTime();
    List<ServiceSpec> platform = layout.services().stream().filter(LocalStack::isPlatform).toList();
    List<ServiceSpec> services = layout.services().stream().filter(s -> !isPlatform(s)).toList();
    for (List<ServiceSpec> wave : List.of(platform, services)) {
      Map<String, Started> launched = new java.util.LinkedHashMap<>();
      for (ServiceSpec s : wave) {
        if (running(s).isPresent()) {
          System.out.printf("  %-9s already running%n", s.name());
          if (supervisor != null) {
            supervisor.adopt(s, null);
          }
          continue;
        }
        launched.put(s.name(), start(s));
        started.add(s);
      }
      for (ServiceSpec s : wave) {
        Started st = launched.get(s.name());
        if (st == null) {
          continue;
        }
        try {
          awaitReady(s, st.logOffset());
        } catch (IllegalStateException e) {
          String why = e.getMessage();
          if (supervisor != null) {
            supervisor.adopt(s, st);
            if (!st.launched().isAlive()
                || st.launched().waitFor(2, java.util.concurrent.TimeUnit.SECONDS)) {
              why = why + ": " + supervisor.cause(s.name());
            }
          } else {
            String err = lastErrorLine(s, st.logOffset());
            why = err == null ? why : why + "; last error: " + err;
          }
          System.err.println("  " + s.name() + " did not become healthy: " + why);
          System.err.println("  see " + layout.logs().resolve(s.name() + ".log"));
          stopAll(started);
          return 1;
        }
        if (supervisor != null) {
          supervisor.adopt(s, st);
        }
        readyAfterMillis.put(s.name(), (System.nanoTime() - t0) / 1_000_000);
        System.out.printf("  %-9s healthy%n", s.name());
      }
    }
    printWelcome((System.nanoTime() - t0) / 1_000_000);
    return 0;
  }

  /** PostgreSQL and Kafka's nodes: what the services need running before they start. */
  static boolean isPlatform(ServiceSpec s) {
    return s.name().equals("postgres") || s.name().equals("kafka") || s.name().startsWith("kafka-");
  }

  private String lastErrorLine(ServiceSpec s, long from) {
    return Supervisor.lastError(Supervisor.lines(layout.logs().resolve(s.name() + ".log"), from));
  }

  public int down() {
    supervisor()
        .ifPresent(
            h -> {
              // The supervisor stops the services itself (in order) when it is told to stop.
              h.destroy();
              try {
                h.onExit().get(2, java.util.concurrent.TimeUnit.MINUTES);
              } catch (Exception e) {
                h.destroyForcibly();
              }
              System.out.println("  supervisor stopped");
            });
    stopAll(layout.services());
    System.out.println("Local stack stopped; data kept in " + layout.data());
    return 0;
  }

  public int status() {
    int rc = 0;
    Optional<ProcessHandle> sup = supervisor();
    System.out.printf(
        "  %-9s %s%n",
        "supervisor",
        sup.map(h -> "running (pid " + h.pid() + ")")
            .orElse("not running (./kosmos up supervises; up -d in the background)"));
    for (ServiceSpec s : layout.services()) {
      Optional<ProcessHandle> p = running(s);
      Optional<java.util.Properties> st = Supervisor.state(layout, s.name());
      StringBuilder line = new StringBuilder();
      if (p.isPresent()) {
        line.append("running (pid ").append(p.get().pid());
        p.get()
            .info()
            .startInstant()
            .ifPresent(
                i ->
                    line.append(", up ")
                        .append(human(System.currentTimeMillis() - i.toEpochMilli())));
        line.append(")");
      } else {
        line.append(
            st.map(x -> Boolean.parseBoolean(x.getProperty("gave_up")) ? "given up" : "stopped")
                .orElse("stopped"));
        rc = 1;
      }
      st.ifPresent(
          x -> {
            line.append(", ").append(x.getProperty("restarts", "0")).append(" restart(s)");
            if (x.getProperty("last_exit") != null) {
              line.append(", last exit: ").append(x.getProperty("last_exit"));
            }
          });
      System.out.printf("  %-9s %s%n", s.name(), line);
    }
    return rc;
  }

  /**
   * Every service JVM of the local stack, where five JVMs share a laptop's cores: the C1 compiler
   * only, and the serial collector. Measured by ./kosmos bench on 2 cores (docs/perf/lean.md): with
   * the default tiered compilation the C2 compiler threads took about half of both cores for
   * minutes after a start (a 1-token job's p50 at 20/s was 5.2 s, 62 ms without), and G1's
   * concurrent threads cost idle CPU that a heap of a few hundred MB does not need; the
   * performance-data sampler ticked in every JVM of an idle stack. A deployment with cores per
   * service (deploy/k8s) keeps the JVM's defaults.
   */
  static final List<String> JVM_FLAGS =
      List.of(
          "-XX:TieredStopAtLevel=1",
          "-XX:+UseSerialGC",
          // No hsperfdata file sampled every 50 ms (jcmd and the bench attach by pid without it).
          "-XX:-UsePerfData");

  /**
   * {@code KOSMOS_JAVA_OPTS} (every service) then {@code KOSMOS_JAVA_OPTS_<SERVICE>} (API, WORKER,
   * METERING, KAFKA, POSTGRES; a cluster's kafka-2 is KAFKA_2): JVM options after the stack's own,
   * so they win (e.g. {@code KOSMOS_JAVA_OPTS_API=-XX:TieredStopAtLevel=4} gives the API C2 back).
   */
  List<String> extraJavaOptions(ServiceSpec s) {
    List<String> out = new ArrayList<>();
    String specific =
        "KOSMOS_JAVA_OPTS_" + s.name().toUpperCase(java.util.Locale.ROOT).replace('-', '_');
    for (String k : List.of("KOSMOS_JAVA_OPTS", specific)) {
      String v = layout.settings().get(k);
      if (v != null && !v.isBlank()) {
        out.addAll(List.of(v.trim().split("\\s+")));
      }
    }
    return out;
  }

  /** Starts a service's process (not waiting for it to be ready). */
  Started start(ServiceSpec s) throws IOException {
    Path log = layout.logs().resolve(s.name() + ".log");
    long offset = Files.exists(log) ? Files.size(log) : 0;
    List<String> cmd = new ArrayList<>();
    if (Files.isExecutable(Path.of("/usr/bin/setsid"))) {
      // Own session: Ctrl-C in the terminal reaches only this launcher, which then stops the
      // services in order, and with -d they outlive the launcher and the terminal. setsid stays
      // as the parent (--wait), so the pid file names a process that lives as long as the service.
      cmd.addAll(List.of("/usr/bin/setsid", "--fork", "--wait"));
    }
    cmd.addAll(List.of(javaBin, "-Xmx" + s.heap()));
    cmd.addAll(JVM_FLAGS);
    cmd.addAll(extraJavaOptions(s));
    cmd.addAll(
        List.of(
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
    boolean viaSetsid = cmd.get(0).equals("/usr/bin/setsid");
    ProcessHandle p = serviceProcess(launched, viaSetsid);
    // pid and start time: a pid reused by an unrelated process after a reboot is not "running".
    String started = p.info().startInstant().map(i -> Long.toString(i.toEpochMilli())).orElse("0");
    Files.writeString(pidFile(s), p.pid() + " " + started);
    System.out.printf("  %-9s starting (pid %d, log %s)%n", s.name(), p.pid(), log);
    return new Started(
        launched,
        p,
        offset,
        p.info()
            .startInstant()
            .map(java.time.Instant::toEpochMilli)
            .orElse(System.currentTimeMillis()),
        viaSetsid);
  }

  /**
   * The service JVM itself: under setsid it is the forked child (setsid stays in our process group
   * and dies with Ctrl-C; the service must not).
   */
  private static ProcessHandle serviceProcess(Process launched, boolean viaSetsid)
      throws IOException {
    if (!viaSetsid) {
      return launched.toHandle();
    }
    long end = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    while (System.nanoTime() < end) {
      Optional<ProcessHandle> child = launched.children().findFirst();
      if (child.isPresent()) {
        return child.get();
      }
      if (!launched.isAlive()) {
        // The service exited before we saw it (it failed at once): setsid carries its exit
        // status, so the supervisor still learns why.
        return launched.toHandle();
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

  /**
   * Waits until the service is ready: its ready line appears in its log after {@code logOffset}
   * (what this start wrote, never a line from an earlier run: a stale "postgres ready" made the API
   * start before its database existed after the data folder was removed), or its health URL answers
   * 200.
   */
  private void awaitReady(ServiceSpec s, long logOffset) throws Exception {
    long end = System.nanoTime() + START_TIMEOUT.toNanos();
    Path log = layout.logs().resolve(s.name() + ".log");
    while (System.nanoTime() < end) {
      if (running(s).isEmpty()) {
        throw new IllegalStateException("the process exited");
      }
      if (s.readyLogLine() != null
          && Supervisor.lines(log, logOffset).stream()
              .anyMatch(l -> l.contains(s.readyLogLine()))) {
        return;
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
    return alive(pidFile(s));
  }

  /**
   * The process a pid file names ({@code pid start-millis}), if it is alive and is still that
   * process: a pid reused by an unrelated process after a reboot is not "running".
   */
  private static Optional<ProcessHandle> alive(Path pidFile) {
    try {
      if (!Files.exists(pidFile)) {
        return Optional.empty();
      }
      String[] parts = Files.readString(pidFile).trim().split(" ");
      long started = parts.length > 1 ? Long.parseLong(parts[1]) : 0;
      return ProcessHandle.of(Long.parseLong(parts[0]))
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
    for (int i = 1; i <= layout.apis(); i++) {
      String n = i == 1 ? "" : " " + i;
      System.out.printf("  %-12s http://localhost:%d%n", "API" + n, layout.apiPort(i));
      System.out.printf(
          "  %-12s http://localhost:%d/healthcheck (/metrics)%n",
          "API admin" + n, layout.apiAdminPort(i));
    }
    for (int i = 1; i <= layout.workers(); i++) {
      System.out.printf(
          "  %-12s http://localhost:%d/healthcheck%n",
          i == 1 ? "worker admin" : "worker " + i, layout.workerAdminPort() + 10 * (i - 1));
    }
    System.out.println(
        "  metering     http://localhost:" + layout.meteringAdminPort() + "/healthcheck");
    System.out.println(
        "  Kafka        "
            + layout.kafkaBootstrap()
            + (layout.brokers() > 1
                ? " ("
                    + layout.brokers()
                    + " KRaft nodes, replication factor "
                    + layout.replicationFactor()
                    + ", min.insync.replicas 2)"
                : ""));
    System.out.println("  PostgreSQL   " + layout.jdbcUrl() + " (user postgres)");
    System.out.println("  logs         " + layout.logs());
    System.out.println();
    System.out.println("Try it (paste into a shell):");
    System.out.println();
    System.out.println(curlTour(api));
    System.out.println();
  }

  /**
   * The ready-to-paste tour: create an account, submit a text job and an image job (a small
   * picture, inline as a data URL), poll each.
   */
  static String curlTour(String api) {
    String poll =
        "for i in $(seq 1 40); do OUT=$(curl -s "
            + api
            + "/v1/jobs/$JOB -H \"Authorization: Bearer $KEY\");";
    String done =
        "  case \"$OUT\" in *'\"status\":\"succeeded\"'*|*'\"status\":\"failed\"'*) break;; esac;"
            + " sleep 0.5; done; echo \"$OUT\"";
    return String.join(
        "\n",
        "KEY=$(curl -s -X POST " + api + "/v1/accounts -H 'Content-Type: application/json' \\",
        "  -d '{\"username\":\"demo'$RANDOM'\",\"email\":\"demo@example.com\",\"password\":\"correct horse battery\"}' \\",
        "  | sed -n 's/.*\"key\":\"\\([^\"]*\\)\".*/\\1/p'); echo \"key: $KEY\"",
        "JOB=$(curl -s -X POST " + api + "/v1/jobs -H \"Authorization: Bearer $KEY\" \\",
        "  -H 'Content-Type: application/json' \\",
        "  -d '{\"type\":\"text\",\"input\":{\"prompt\":\"Once upon a time\",\"max_tokens\":32}}' \\",
        "  | sed -n 's/^{\"id\":\"\\([^\"]*\\)\".*/\\1/p'); echo \"job: $JOB\"",
        poll,
        done,
        "# An image job: objects with boxes (detect_objects is on by default).",
        "JOB=$(curl -s -X POST " + api + "/v1/jobs -H \"Authorization: Bearer $KEY\" \\",
        "  -H 'Content-Type: application/json' \\",
        "  -d '{\"type\":\"image\",\"input\":{\"prompt\":\"An image of\",\"max_tokens\":64,\"image\":\"data:image/png;base64,"
            + tourImage()
            + "\"}}' \\",
        "  | sed -n 's/^{\"id\":\"\\([^\"]*\\)\".*/\\1/p'); echo \"image job: $JOB\"",
        poll,
        done,
        "# OpenAI's protocol, streamed token by token (any OpenAI client works: base URL "
            + api
            + "/v1).",
        "curl -sN " + api + "/v1/chat/completions -H \"Authorization: Bearer $KEY\" \\",
        "  -H 'Content-Type: application/json' -d '{\"model\":\"kosmos-2\",\"stream\":true,"
            + "\"max_tokens\":24,\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a"
            + " story\"}]}'");
  }

  /** A 64×48 picture for the tour: a red disc on a light blue ground, as a base64 PNG. */
  static String tourImage() {
    java.awt.image.BufferedImage img =
        new java.awt.image.BufferedImage(64, 48, java.awt.image.BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < 48; y++) {
      for (int x = 0; x < 64; x++) {
        boolean disc = (x - 22) * (x - 22) + (y - 24) * (y - 24) < 14 * 14;
        img.setRGB(x, y, disc ? 0xdc1e1e : 0x96bef0);
      }
    }
    try {
      java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
      javax.imageio.ImageIO.write(img, "png", out);
      return java.util.Base64.getEncoder().encodeToString(out.toByteArray());
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }
}
