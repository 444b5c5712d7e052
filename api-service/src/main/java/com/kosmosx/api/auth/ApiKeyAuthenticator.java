package com.kosmosx.api.auth;

import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.LoadingCache;
import com.kosmosx.api.accounts.ApiKeys;
import com.kosmosx.api.db.ApiKeyDao;
import io.dropwizard.lifecycle.Managed;
import java.nio.ByteBuffer;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.jdbi.v3.core.Jdbi;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Resolves an API key to a {@link Caller} by its SHA-256 (an index probe, never bcrypt).
 *
 * <p>Lookups are cached. An entry is refreshed in the background once it is older than half the TTL
 * and dropped at the TTL, so a busy key never waits for the database, and a revocation made on any
 * API instance takes effect here within the TTL (500 ms by default). {@code last_used_at} is kept
 * in memory and written in one batch every few seconds, not once per request.
 */
public final class ApiKeyAuthenticator implements Managed {
  private static final Logger LOG = LoggerFactory.getLogger(ApiKeyAuthenticator.class);

  private final Jdbi jdbi;
  private final Clock clock;
  private final LoadingCache<ByteBuffer, Optional<Caller>> cache;
  private final Map<String, Instant> lastUsed = new ConcurrentHashMap<>();
  private final Duration flushInterval;
  private ScheduledExecutorService flusher;

  public ApiKeyAuthenticator(Jdbi jdbi, Clock clock, Duration cacheTtl, Duration flushInterval) {
    this.jdbi = jdbi;
    this.clock = clock;
    this.flushInterval = flushInterval;
    this.cache =
        Caffeine.newBuilder()
            .refreshAfterWrite(cacheTtl.dividedBy(2))
            .expireAfterWrite(cacheTtl)
            .maximumSize(100_000)
            .build(h -> jdbi.withExtension(ApiKeyDao.class, dao -> dao.findActive(h.array())));
  }

  public Optional<Caller> authenticate(String key) {
    if (key == null || key.isEmpty() || key.length() > 200) {
      return Optional.empty();
    }
    Optional<Caller> caller = cache.get(ByteBuffer.wrap(ApiKeys.hash(key)));
    if (caller.isEmpty()) {
      return caller;
    }
    Instant now = clock.instant();
    Caller c = caller.get();
    if (c.keyExpiresAt() != null && !c.keyExpiresAt().isAfter(now)) {
      return Optional.empty();
    }
    lastUsed.put(c.keyId(), now);
    return caller;
  }

  /** Forgets cached lookups on this instance at once (other instances follow within the TTL). */
  public void invalidateAll() {
    cache.invalidateAll();
  }

  @Override
  public void start() {
    flusher =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "api-key-last-used");
              t.setDaemon(true);
              return t;
            });
    long ms = flushInterval.toMillis();
    flusher.scheduleWithFixedDelay(this::flushLastUsed, ms, ms, TimeUnit.MILLISECONDS);
  }

  @Override
  public void stop() {
    if (flusher != null) {
      flusher.shutdown();
    }
    flushLastUsed();
  }

  /** Writes the latest use of each key seen since the last flush in one batch. */
  void flushLastUsed() {
    if (lastUsed.isEmpty()) {
      return;
    }
    Map<String, Instant> batch = new java.util.HashMap<>();
    for (String id : lastUsed.keySet()) {
      Instant at = lastUsed.remove(id);
      if (at != null) {
        batch.put(id, at);
      }
    }
    try {
      jdbi.useExtension(ApiKeyDao.class, dao -> dao.touch(batch.keySet(), batch.values()));
    } catch (RuntimeException e) {
      LOG.warn("could not record last use of {} API keys: {}", batch.size(), e.toString());
    }
  }
}
