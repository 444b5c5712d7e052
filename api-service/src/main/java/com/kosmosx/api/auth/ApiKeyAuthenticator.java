package com.kosmosx.api.auth;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.kosmosx.api.core.ApiKeys;
import com.kosmosx.api.db.ApiKeyDao;
import java.nio.ByteBuffer;
import java.time.Clock;
import java.time.Duration;
import java.util.Optional;
import org.jdbi.v3.core.Jdbi;

/**
 * Resolves an API key to a {@link Caller}. Lookups go by SHA-256 (an index probe, never bcrypt) and
 * are cached briefly, so a revocation reaches every API instance within the cache TTL (1 s by
 * default) while a hot key costs no database round trip per request.
 */
public final class ApiKeyAuthenticator {
  private final Jdbi jdbi;
  private final Clock clock;
  private final Cache<ByteBuffer, Optional<Caller>> cache;

  public ApiKeyAuthenticator(Jdbi jdbi, Clock clock, Duration cacheTtl) {
    this.jdbi = jdbi;
    this.clock = clock;
    this.cache = Caffeine.newBuilder().expireAfterWrite(cacheTtl).maximumSize(100_000).build();
  }

  public Optional<Caller> authenticate(String key) {
    if (key == null || key.isEmpty() || key.length() > 200) {
      return Optional.empty();
    }
    ByteBuffer hash = ByteBuffer.wrap(ApiKeys.hash(key));
    Optional<Caller> caller =
        cache.get(hash, h -> jdbi.withExtension(ApiKeyDao.class, dao -> dao.findActive(h.array())));
    if (caller.isPresent()
        && caller.get().keyExpiresAt() != null
        && !caller.get().keyExpiresAt().isAfter(clock.instant())) {
      return Optional.empty();
    }
    return caller;
  }
}
