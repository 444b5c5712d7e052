package com.kosmosx.bench;

import com.sun.tools.attach.VirtualMachine;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import javax.management.MBeanServerConnection;
import javax.management.ObjectName;
import javax.management.remote.JMXConnector;
import javax.management.remote.JMXConnectorFactory;
import javax.management.remote.JMXServiceURL;

/**
 * Where a window's work went, counted by the components themselves: the broker's request counts
 * (its own JMX meters, read by attaching to its JVM, no flag needed at start) and PostgreSQL's
 * {@code pg_stat_statements} and {@code pg_stat_wal}. Both are sampled before and after a window
 * and reported per job.
 */
final class Profiles {
  private Profiles() {}

  /** The broker's request meters, by request type (summed over API versions). */
  static final class Broker implements AutoCloseable {
    private final JMXConnector connector;
    private final MBeanServerConnection server;

    private Broker(JMXConnector connector) throws Exception {
      this.connector = connector;
      this.server = connector.getMBeanServerConnection();
    }

    /** Attaches to the broker's JVM and starts its local management agent. */
    static Broker attach(long pid) throws Exception {
      VirtualMachine vm = VirtualMachine.attach(Long.toString(pid));
      try {
        return new Broker(
            JMXConnectorFactory.connect(new JMXServiceURL(vm.startLocalManagementAgent())));
      } finally {
        vm.detach();
      }
    }

    /** Requests handled so far, by type (Produce, Fetch, EndTxn, ...). */
    Map<String, Long> requests() throws Exception {
      Map<String, Long> m = new TreeMap<>();
      for (ObjectName n :
          server.queryNames(
              new ObjectName("kafka.network:type=RequestMetrics,name=RequestsPerSec,*"), null)) {
        String type = n.getKeyProperty("request");
        long count = ((Number) server.getAttribute(n, "Count")).longValue();
        m.merge(type, count, Long::sum);
      }
      return m;
    }

    @Override
    public void close() throws Exception {
      connector.close();
    }
  }

  /** Per-job request counts between two samples, largest first; types with none left out. */
  static Map<String, Object> perJob(
      Map<String, Long> before, Map<String, Long> after, double jobs) {
    List<Map.Entry<String, Long>> d = new ArrayList<>();
    after.forEach(
        (k, v) -> {
          long n = v - before.getOrDefault(k, 0L);
          if (n > 0) {
            d.add(Map.entry(k, n));
          }
        });
    d.sort((a, b) -> Long.compare(b.getValue(), a.getValue()));
    Map<String, Object> m = new LinkedHashMap<>();
    long total = 0;
    for (Map.Entry<String, Long> e : d) {
      m.put(e.getKey(), Bench.round(e.getValue() / jobs));
      total += e.getValue();
    }
    m.put("total", Bench.round(total / jobs));
    return m;
  }

  /** PostgreSQL's own counts: statements (pg_stat_statements), commits, WAL. */
  static final class Postgres {
    private final String url;
    private final String user;

    Postgres(String url, String user) {
      this.url = url;
      this.user = user;
    }

    /** Creates the extension (the server loads it when started for the bench) and resets it. */
    boolean reset() {
      try (Connection c = DriverManager.getConnection(url, user, "");
          Statement s = c.createStatement()) {
        s.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
        s.execute("SELECT pg_stat_statements_reset()");
        return true;
      } catch (Exception e) {
        System.out.println("  (pg_stat_statements unavailable: " + e.getMessage() + ")");
        return false;
      }
    }

    /** Commits and WAL so far: xact_commit of the database, WAL records, bytes and syncs. */
    Map<String, Long> counters() throws Exception {
      Map<String, Long> m = new LinkedHashMap<>();
      try (Connection c = DriverManager.getConnection(url, user, "");
          Statement s = c.createStatement()) {
        try (ResultSet rs =
            s.executeQuery(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")) {
          rs.next();
          m.put("commits", rs.getLong(1));
        }
        try (ResultSet rs =
            s.executeQuery("SELECT wal_records, wal_bytes, wal_write, wal_sync FROM pg_stat_wal")) {
          rs.next();
          m.put("wal_records", rs.getLong(1));
          m.put("wal_bytes", rs.getLong(2));
          m.put("wal_writes", rs.getLong(3));
          m.put("wal_syncs", rs.getLong(4));
        }
      }
      return m;
    }

    /**
     * The statements of the window, by total execution time: calls and milliseconds per job, and
     * the statement's first 120 characters.
     */
    List<Map<String, Object>> statements(double jobs, int top) throws Exception {
      List<Map<String, Object>> out = new ArrayList<>();
      try (Connection c = DriverManager.getConnection(url, user, "");
          Statement s = c.createStatement();
          ResultSet rs =
              s.executeQuery(
                  "SELECT calls, total_exec_time, query FROM pg_stat_statements"
                      + " WHERE query NOT LIKE '%pg_stat_statements%'"
                      + " ORDER BY total_exec_time DESC LIMIT "
                      + top)) {
        while (rs.next()) {
          Map<String, Object> m = new LinkedHashMap<>();
          m.put("calls_per_job", Bench.round(rs.getLong(1) / jobs));
          m.put("exec_ms_per_job", Bench.round(rs.getDouble(2) / jobs));
          String q = rs.getString(3).replaceAll("\\s+", " ").trim();
          m.put("query", q.length() > 120 ? q.substring(0, 120) + "..." : q);
          out.add(m);
        }
      }
      return out;
    }
  }
}
