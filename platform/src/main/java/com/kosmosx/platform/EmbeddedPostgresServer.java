package com.kosmosx.platform;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real PostgreSQL server from the zonky Maven artifacts (binaries inside a jar). Runs in-JVM for
 * tests and as the local stack's database process; with a fixed data directory the data survives a
 * restart (initdb runs only when the directory is empty).
 */
public final class EmbeddedPostgresServer implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(EmbeddedPostgresServer.class);
  public static final String USER = "postgres";

  private final Path dataDir;
  private final int port;
  private EmbeddedPostgres pg;

  public EmbeddedPostgresServer(Path dataDir, int port) {
    this.dataDir = dataDir;
    this.port = port;
  }

  public static EmbeddedPostgresServer temporary() {
    try {
      return new EmbeddedPostgresServer(Files.createTempDirectory("kosmos-pg"), Ports.free());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Set to 1, the server loads pg_stat_statements (the bench's per-statement profile). */
  public static final String STATEMENT_STATS = "KOSMOS_PG_STAT_STATEMENTS";

  public synchronized EmbeddedPostgresServer start() {
    if (pg != null) {
      return this;
    }
    long t0 = System.nanoTime();
    try {
      Files.createDirectories(dataDir);
      EmbeddedPostgres.Builder b =
          EmbeddedPostgres.builder()
              .setDataDirectory(dataDir)
              .setCleanDataDirectory(false)
              .setPort(port)
              .setPGStartupWait(Duration.ofSeconds(60))
              // Enough for several API instances, the relay and the projection in one test JVM.
              .setServerConfig("max_connections", "200");
      if ("1".equals(System.getenv(STATEMENT_STATS))) {
        // ./kosmos bench: what each statement costs per job (pg_stat_statements, shipped in the
        // binaries' contrib); off otherwise, it hashes every statement.
        b.setServerConfig("shared_preload_libraries", "pg_stat_statements");
      }
      pg = b.start();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start PostgreSQL in " + dataDir, e);
    }
    LOG.info(
        "PostgreSQL ready on port {} in {} ms (data {})",
        port,
        (System.nanoTime() - t0) / 1_000_000,
        dataDir);
    return this;
  }

  /** Creates the database if missing; returns its JDBC URL. */
  public String ensureDatabase(String name) {
    if (!name.matches("[a-z_][a-z0-9_]{0,62}")) {
      throw new IllegalArgumentException("bad database name " + name);
    }
    try (Connection c = pg.getPostgresDatabase().getConnection();
        Statement s = c.createStatement()) {
      try (ResultSet rs =
          s.executeQuery("SELECT 1 FROM pg_database WHERE datname = '" + name + "'")) {
        if (!rs.next()) {
          s.execute("CREATE DATABASE " + name);
        }
      }
    } catch (SQLException e) {
      throw new IllegalStateException("cannot create database " + name, e);
    }
    return jdbcUrl(name);
  }

  public String jdbcUrl(String database) {
    return "jdbc:postgresql://localhost:" + port + "/" + database;
  }

  public int port() {
    return port;
  }

  public synchronized void stop() {
    if (pg == null) {
      return;
    }
    try {
      pg.close();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot stop PostgreSQL on port " + port, e);
    } finally {
      pg = null;
    }
  }

  @Override
  public void close() {
    stop();
  }
}
