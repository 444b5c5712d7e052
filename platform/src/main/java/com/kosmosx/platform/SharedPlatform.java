package com.kosmosx.platform;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One broker and one database per test JVM, started on first use and stopped when the JVM exits.
 * Integration tests share it and isolate themselves by unique ids (accounts, consumer groups), not
 * by restarting infrastructure.
 */
public final class SharedPlatform {
  private static final Logger LOG = LoggerFactory.getLogger(SharedPlatform.class);
  private static EmbeddedKafka kafka;
  private static EmbeddedPostgresServer postgres;

  private SharedPlatform() {}

  public static synchronized EmbeddedKafka kafka() {
    if (kafka == null) {
      kafka = EmbeddedKafka.temporary().start();
      Runtime.getRuntime().addShutdownHook(new Thread(SharedPlatform::stopKafka, "kafka-stop"));
    }
    return kafka;
  }

  public static synchronized EmbeddedPostgresServer postgres() {
    if (postgres == null) {
      postgres = EmbeddedPostgresServer.temporary().start();
      Runtime.getRuntime().addShutdownHook(new Thread(SharedPlatform::stopPostgres, "pg-stop"));
    }
    return postgres;
  }

  /** A fresh database on the shared server, so each test class gets clean tables. */
  public static String freshDatabase(String prefix) {
    String name = (prefix + "_" + Long.toHexString(System.nanoTime())).toLowerCase();
    return postgres().ensureDatabase(name);
  }

  private static synchronized void stopKafka() {
    try {
      if (kafka != null) {
        kafka.stop();
      }
    } catch (RuntimeException e) {
      LOG.warn("stopping Kafka at exit failed", e);
    }
  }

  private static synchronized void stopPostgres() {
    try {
      if (postgres != null) {
        postgres.stop();
      }
    } catch (RuntimeException e) {
      LOG.warn("stopping PostgreSQL at exit failed", e);
    }
  }
}
