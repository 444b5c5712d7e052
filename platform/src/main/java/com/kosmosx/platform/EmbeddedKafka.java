package com.kosmosx.platform;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;
import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.metadata.storage.Formatter;
import org.apache.kafka.server.common.Feature;
import org.apache.kafka.server.common.MetadataVersion;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real single-node KRaft Kafka broker (combined broker + controller) started from the {@code
 * kafka_2.13} Maven artifact. The same class runs in-JVM for integration tests and as the local
 * stack's broker process ({@link PlatformMain}); its data directory survives a restart, and {@link
 * #stop()} followed by {@link #start()} brings the same broker back on the same port.
 */
public final class EmbeddedKafka implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(EmbeddedKafka.class);
  // Fixed: the data directory is formatted once with it, and a restart must match.
  private static final String CLUSTER_ID = "a29zbW9zeC1sb2NhbA";

  private final Path dataDir;
  private final int port;
  private final int controllerPort;
  private final Map<String, String> overrides;
  private KafkaRaftServer server;

  public EmbeddedKafka(Path dataDir, int port, int controllerPort, Map<String, String> overrides) {
    this(dataDir, 1, port, controllerPort, "1@localhost:" + controllerPort, overrides);
  }

  /**
   * Node {@code nodeId} of a KRaft cluster whose every node is broker and controller; {@code
   * voters} is the static quorum ({@code 1@localhost:p1,2@localhost:p2,...}). With three nodes or
   * more every topic, the internal ones included, is replicated 3 times with {@code
   * min.insync.replicas} 2: one node may die without losing an acknowledged record or stopping
   * writes.
   */
  public EmbeddedKafka(
      Path dataDir,
      int nodeId,
      int port,
      int controllerPort,
      String voters,
      Map<String, String> overrides) {
    this.dataDir = dataDir;
    this.nodeId = nodeId;
    this.port = port;
    this.controllerPort = controllerPort;
    this.voters = voters;
    this.overrides = Map.copyOf(overrides);
  }

  private final int nodeId;
  private final String voters;

  /** Replication factor and min ISR the cluster's size allows: 3 and 2 from three nodes. */
  private int replication() {
    return Math.min(3, voters.split(",").length);
  }

  /** A broker on free ports with a fresh temporary data directory. */
  public static EmbeddedKafka temporary() {
    try {
      return new EmbeddedKafka(
          Files.createTempDirectory("kosmos-kafka"), Ports.free(), Ports.free(), Map.of());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public synchronized EmbeddedKafka start() {
    if (server != null) {
      return this;
    }
    long t0 = System.nanoTime();
    Map<String, String> props = brokerProperties();
    Path logDir = dataDir.resolve("log");
    try {
      Files.createDirectories(logDir);
      if (!Files.exists(logDir.resolve("meta.properties"))) {
        format(logDir);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot prepare Kafka data directory " + dataDir, e);
    }
    server = new KafkaRaftServer(new KafkaConfig(props, false), Time.SYSTEM);
    server.startup();
    Ports.awaitOpen(port, Duration.ofSeconds(60));
    LOG.info(
        "Kafka broker ready on {} in {} ms (data {})",
        bootstrapServers(),
        (System.nanoTime() - t0) / 1_000_000,
        dataDir);
    return this;
  }

  /**
   * Formats the log directory with production metadata and features. Uses the Formatter class
   * directly rather than StorageTool, whose argparse4j version clashes with Dropwizard's.
   */
  private void format(Path logDir) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (PrintStream ps = new PrintStream(out, true, StandardCharsets.UTF_8)) {
      new Formatter()
          .setPrintStream(ps)
          .setSupportedFeatures(Feature.PRODUCTION_FEATURES)
          .setNodeId(nodeId)
          .setClusterId(CLUSTER_ID)
          .addDirectory(logDir.toString())
          .setMetadataLogDirectory(logDir.toString())
          .setReleaseVersion(MetadataVersion.latestProduction())
          .setControllerListenerName("CONTROLLER")
          .setIgnoreFormatted(true)
          .run();
    } catch (Exception e) {
      throw new IllegalStateException(
          "formatting Kafka storage in "
              + logDir
              + " failed: "
              + out.toString(StandardCharsets.UTF_8),
          e);
    }
  }

  Map<String, String> brokerProperties() {
    Map<String, String> p = new TreeMap<>();
    p.put("process.roles", "broker,controller");
    p.put("node.id", String.valueOf(nodeId));
    p.put("controller.quorum.voters", voters);
    p.put(
        "listeners", "PLAINTEXT://localhost:" + port + ",CONTROLLER://localhost:" + controllerPort);
    p.put("advertised.listeners", "PLAINTEXT://localhost:" + port);
    p.put("controller.listener.names", "CONTROLLER");
    p.put("inter.broker.listener.name", "PLAINTEXT");
    p.put("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
    p.put("log.dirs", dataDir.resolve("log").toString());
    // One node: every replication factor and min ISR must be 1, or internal topics never form.
    // Three or more: 3 and 2, for the internal topics too (offsets, transactions, share state).
    String rf = String.valueOf(replication());
    String minIsr = replication() >= 3 ? "2" : "1";
    p.put("offsets.topic.replication.factor", rf);
    p.put("transaction.state.log.replication.factor", rf);
    p.put("transaction.state.log.min.isr", minIsr);
    p.put("share.coordinator.state.topic.replication.factor", rf);
    p.put("share.coordinator.state.topic.min.isr", minIsr);
    p.put("default.replication.factor", rf);
    p.put("min.insync.replicas", minIsr);
    // A clean shutdown hands leadership over; an unclean election could lose acknowledged data.
    p.put("unclean.leader.election.enable", "false");
    // Few internal partitions: the first group/transaction coordinator lookup stays fast.
    p.put("offsets.topic.num.partitions", "4");
    p.put("transaction.state.log.num.partitions", "4");
    // Otherwise every consumer group join waits 3 s for more members.
    p.put("group.initial.rebalance.delay.ms", "0");
    // Topics come from the contracts registry, never from a typo in a consumer.
    p.put("auto.create.topics.enable", "false");
    p.put("num.partitions", "4");
    // The active controller appends a no-op record to the metadata log when it has written nothing
    // for this long (default 500 ms): a raft append, flush and publish twice a second on an idle
    // stack. Every 5 s still shows brokers a live quorum.
    p.put("metadata.max.idle.interval.ms", "5000");
    p.putAll(overrides);
    return p;
  }

  public String bootstrapServers() {
    return "localhost:" + port;
  }

  public int port() {
    return port;
  }

  public Path dataDir() {
    return dataDir;
  }

  public synchronized boolean running() {
    return server != null;
  }

  /** Stops the broker and waits for it; the data directory stays, so start() resumes it. */
  public synchronized void stop() {
    if (server == null) {
      return;
    }
    server.shutdown();
    server.awaitShutdown();
    server = null;
    LOG.info("Kafka broker on port {} stopped", port);
  }

  @Override
  public void close() {
    stop();
  }
}
