package com.kosmosx.api.quarantine;

import com.kosmosx.runtime.Quarantine;
import java.time.Clock;
import java.time.OffsetDateTime;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.Jdbi;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The API's quarantine: records and rows its loops could not apply, kept with their reason and
 * bytes in PostgreSQL. Admins list them and replay one once its cause is fixed; each loop registers
 * how a record of its goes back ({@link Replayer}). A replay that fails again leaves the record
 * where it is and says why.
 */
public final class QuarantineStore implements Quarantine {
  private static final Logger LOG = LoggerFactory.getLogger(QuarantineStore.class);

  /** How a loop takes one of its records back, inside the replay's transaction. */
  @FunctionalInterface
  public interface Replayer {
    /** Re-applies the record; throws if it still cannot be applied. */
    void replay(Handle h, Entry entry) throws Exception;
  }

  /** One quarantined record. */
  public record Entry(
      long id,
      String loop,
      String source,
      String topic,
      String key,
      String reason,
      byte[] payload,
      OffsetDateTime createdAt,
      OffsetDateTime replayedAt) {

    Map<String, Object> view() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("id", id);
      m.put("loop", loop);
      m.put("source", source);
      m.put("topic", topic);
      m.put("key", key);
      m.put("reason", reason);
      m.put("bytes", payload.length);
      m.put("created_at", createdAt.toInstant().toString());
      m.put("replayed_at", replayedAt == null ? null : replayedAt.toInstant().toString());
      return m;
    }
  }

  private final Jdbi jdbi;
  private final Clock clock;
  private final Map<String, Replayer> replayers = new ConcurrentHashMap<>();

  public QuarantineStore(Jdbi jdbi, Clock clock) {
    this.jdbi = jdbi;
    this.clock = clock;
  }

  public void register(String loop, Replayer replayer) {
    replayers.put(loop, replayer);
    com.kosmosx.runtime.Metrics.QUARANTINED.initLabelValues(loop);
  }

  @Override
  public void put(Poison p) {
    jdbi.useHandle(h -> put(h, p));
  }

  /** Sets a record aside inside the caller's transaction (with the change that skips it). */
  public void put(Handle h, Poison p) {
    com.kosmosx.runtime.Metrics.QUARANTINED.labelValues(p.loop()).inc();
    h.createUpdate(
            "INSERT INTO quarantine (loop, source, topic, msg_key, reason, payload, created_at)"
                + " VALUES (:loop, :source, :topic, :key, :reason, :payload, :at)")
        .bind("loop", p.loop())
        .bind("source", p.source())
        .bind("topic", p.topic())
        .bind("key", p.key() == null ? null : p.key().replace('\u0000', '\uFFFD'))
        .bind("reason", bounded(p.reason()))
        .bind("payload", p.payload() == null ? new byte[0] : p.payload())
        .bind("at", clock.instant())
        .execute();
    LOG.warn("{} quarantined {} (key {}): {}", p.loop(), p.source(), p.key(), bounded(p.reason()));
  }

  /** Newest first; only those not replayed unless {@code all}. */
  public List<Map<String, Object>> list(String loop, boolean all, int limit) {
    return jdbi.withHandle(
        h ->
            h.createQuery(
                    "SELECT * FROM quarantine WHERE (:loop IS NULL OR loop = :loop)"
                        + " AND (:all OR replayed_at IS NULL) ORDER BY id DESC LIMIT :limit")
                .bind("loop", loop)
                .bind("all", all)
                .bind("limit", limit)
                .map((rs, ctx) -> entry(rs).view())
                .list());
  }

  public Optional<Entry> find(long id) {
    return jdbi.withHandle(
        h ->
            h.createQuery("SELECT * FROM quarantine WHERE id = :id")
                .bind("id", id)
                .map((rs, ctx) -> entry(rs))
                .findOne());
  }

  /** What a replay did. */
  public enum Replay {
    REPLAYED,
    NOT_FOUND,
    ALREADY_REPLAYED,
    NO_REPLAYER
  }

  /**
   * Replays one record: its loop's replayer and the mark, in one transaction. Throws what the
   * replayer throws (the record stays quarantined).
   */
  public Replay replay(long id) {
    return jdbi.inTransaction(
        h -> {
          Optional<Entry> found =
              h.createQuery("SELECT * FROM quarantine WHERE id = :id FOR UPDATE")
                  .bind("id", id)
                  .map((rs, ctx) -> entry(rs))
                  .findOne();
          if (found.isEmpty()) {
            return Replay.NOT_FOUND;
          }
          Entry e = found.get();
          if (e.replayedAt() != null) {
            return Replay.ALREADY_REPLAYED;
          }
          Replayer r = replayers.get(e.loop());
          if (r == null) {
            return Replay.NO_REPLAYER;
          }
          try {
            r.replay(h, e);
          } catch (RuntimeException ex) {
            throw ex;
          } catch (Exception ex) {
            throw new IllegalStateException(ex);
          }
          h.createUpdate("UPDATE quarantine SET replayed_at = :now WHERE id = :id")
              .bind("now", clock.instant())
              .bind("id", id)
              .execute();
          return Replay.REPLAYED;
        });
  }

  public long open() {
    return jdbi.withHandle(
        h ->
            h.createQuery("SELECT count(*) FROM quarantine WHERE replayed_at IS NULL")
                .mapTo(Long.class)
                .one());
  }

  private static Entry entry(java.sql.ResultSet rs) throws java.sql.SQLException {
    return new Entry(
        rs.getLong("id"),
        rs.getString("loop"),
        rs.getString("source"),
        rs.getString("topic"),
        rs.getString("msg_key"),
        rs.getString("reason"),
        rs.getBytes("payload"),
        rs.getObject("created_at", OffsetDateTime.class),
        rs.getObject("replayed_at", OffsetDateTime.class));
  }

  private static String bounded(String s) {
    String r = s == null ? "unknown" : s.replace('\u0000', '\uFFFD');
    return r.length() > 1000 ? r.substring(0, 1000) : r;
  }
}
