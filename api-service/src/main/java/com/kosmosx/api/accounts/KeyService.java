package com.kosmosx.api.accounts;

import com.kosmosx.api.api.ApiKeyView;
import com.kosmosx.api.api.CreateKeyRequest;
import com.kosmosx.api.api.NewApiKey;
import com.kosmosx.api.api.RotateKeyRequest;
import com.kosmosx.api.auth.ApiKeyAuthenticator;
import com.kosmosx.api.auth.Caller;
import com.kosmosx.api.db.AccountDao;
import com.kosmosx.api.db.ApiKeyDao;
import com.kosmosx.api.db.JobDao;
import com.kosmosx.api.errors.ApiProblem;
import com.kosmosx.api.jobs.Ids;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.Jdbi;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The account surface after sign-up: keys (list, create, rotate with grace, revoke), the webhook
 * secret, and closing an account. Every change drops this instance's key cache at once; other
 * instances follow within the cache TTL.
 */
public final class KeyService {
  private static final Logger LOG = LoggerFactory.getLogger(KeyService.class);
  static final int MAX_NAME = 64;
  static final long MAX_LIFETIME_SECONDS = Duration.ofDays(3650).toSeconds();
  static final long MAX_GRACE_SECONDS = Duration.ofDays(30).toSeconds();

  private final Jdbi jdbi;
  private final Clock clock;
  private final ApiKeyAuthenticator authenticator;

  /** Keys an account may hold that work or will (rotation is exempt: it retires the others). */
  public static final int DEFAULT_MAX_LIVE_KEYS = 20;

  private final int maxLiveKeys;

  public KeyService(Jdbi jdbi, Clock clock, ApiKeyAuthenticator authenticator) {
    this(jdbi, clock, authenticator, DEFAULT_MAX_LIVE_KEYS);
  }

  public KeyService(Jdbi jdbi, Clock clock, ApiKeyAuthenticator authenticator, int maxLiveKeys) {
    this.maxLiveKeys = maxLiveKeys;
    this.jdbi = jdbi;
    this.clock = clock;
    this.authenticator = authenticator;
  }

  public List<ApiKeyView> list(Caller caller) {
    return jdbi.withExtension(ApiKeyDao.class, dao -> dao.list(caller.accountId())).stream()
        .map(
            r ->
                new ApiKeyView(
                    r.id(),
                    r.name(),
                    r.prefix(),
                    utc(r.createdAt()),
                    utc(r.lastUsedAt()),
                    utc(r.expiresAt()),
                    utc(r.revokedAt())))
        .toList();
  }

  public NewApiKey create(Caller caller, CreateKeyRequest r) {
    String name = r == null || r.name() == null ? "default" : r.name();
    if (name.isBlank()
        || name.length() > MAX_NAME
        || name.chars().anyMatch(Character::isISOControl)) {
      throw ApiProblem.validation(
          "Field 'name' has 1 to " + MAX_NAME + " printable characters.", "name");
    }
    Long lifetime = r == null ? null : r.expiresInSeconds();
    if (lifetime != null && (lifetime < 60 || lifetime > MAX_LIFETIME_SECONDS)) {
      throw ApiProblem.validation(
          "Field 'expires_in_seconds' must be between 60 and " + MAX_LIFETIME_SECONDS + ".",
          "expires_in_seconds");
    }
    Instant now = clock.instant();
    Instant expires = lifetime == null ? null : now.plusSeconds(lifetime);
    return jdbi.inTransaction(
        h -> {
          ApiKeyDao dao = h.attach(ApiKeyDao.class);
          dao.lockAccount(caller.accountId());
          if (dao.countLive(caller.accountId(), now) >= maxLiveKeys) {
            throw ApiProblem.conflict(
                "An account has at most "
                    + maxLiveKeys
                    + " live keys; revoke one (DELETE /v1/api-keys/{id}) or rotate.");
          }
          return issue(h, caller.accountId(), name, now, expires);
        });
  }

  /** Issues a new key; every older key stops working after the grace period (default 0). */
  public NewApiKey rotate(Caller caller, RotateKeyRequest r) {
    long grace = r == null || r.graceSeconds() == null ? 0 : r.graceSeconds();
    if (grace < 0 || grace > MAX_GRACE_SECONDS) {
      throw ApiProblem.validation(
          "Field 'grace_seconds' must be between 0 and " + MAX_GRACE_SECONDS + ".",
          "grace_seconds");
    }
    Instant now = clock.instant();
    NewApiKey key =
        jdbi.inTransaction(
            h -> {
              NewApiKey k = issue(h, caller.accountId(), "rotated", now, null);
              h.attach(ApiKeyDao.class)
                  .expireOthers(caller.accountId(), k.id(), now.plusSeconds(grace));
              return k;
            });
    authenticator.invalidateAll();
    LOG.info("account {} rotated its keys to {} (grace {} s)", caller.accountId(), key.id(), grace);
    return key;
  }

  public void revoke(Caller caller, String keyId) {
    int n =
        jdbi.withExtension(
            ApiKeyDao.class, dao -> dao.revoke(keyId, caller.accountId(), clock.instant()));
    if (n == 0) {
      throw ApiProblem.notFound("API key " + keyId);
    }
    authenticator.invalidateAll();
    LOG.info("account {} revoked key {}", caller.accountId(), keyId);
  }

  /**
   * Closes an account in one transaction: every key revoked; every unfinished job asked to cancel
   * (the worker stops it; an output that still arrives is never stored, see JobDao); job inputs,
   * outputs and metadata erased; stored idempotency answers deleted; webhook payloads emptied and
   * pending deliveries ended. Usage and job counts stay for invoicing.
   */
  public void closeAccount(Caller caller) {
    Instant now = clock.instant();
    String account = caller.accountId();
    jdbi.useTransaction(
        h -> {
          h.attach(ApiKeyDao.class).revokeAll(account, now);
          List<String> unfinished =
              h.createQuery(
                      "UPDATE jobs SET cancel_requested_at = :now WHERE account_id = :a"
                          + " AND status IN ('queued', 'running') AND cancel_requested_at IS NULL"
                          + " RETURNING id")
                  .bind("now", now)
                  .bind("a", account)
                  .mapTo(String.class)
                  .list();
          com.kosmosx.api.db.OutboxDao outbox = h.attach(com.kosmosx.api.db.OutboxDao.class);
          for (String jobId : unfinished) {
            outbox.insert(
                com.kosmosx.contracts.Topics.JOB_CONTROL.name(),
                jobId,
                com.kosmosx.contracts.Topics.JOB_CONTROL.serializeValue(
                    new com.kosmosx.contracts.JobControl(
                        jobId, account, com.kosmosx.contracts.JobControl.Action.CANCEL, now)));
          }
          h.attach(JobDao.class).eraseContent(account);
          h.createUpdate("DELETE FROM idempotency_keys WHERE account_id = :a")
              .bind("a", account)
              .execute();
          h.createUpdate(
                  "UPDATE webhook_deliveries SET payload = ''::bytea, next_attempt_at = NULL,"
                      + " status = CASE status WHEN 'pending' THEN 'failed' ELSE status END"
                      + " WHERE account_id = :a")
              .bind("a", account)
              .execute();
          h.attach(AccountDao.class).markDeleted(account, now);
        });
    authenticator.invalidateAll();
    LOG.info("account {} closed", caller.accountId());
  }

  /** Changes an account's role; its keys carry the new role on every instance within the TTL. */
  public void setRole(String accountId, Caller.Role role) {
    int n =
        jdbi.withExtension(
            AccountDao.class,
            dao -> dao.setRole(accountId, role.name().toLowerCase(java.util.Locale.ROOT)));
    if (n == 0) {
      throw ApiProblem.notFound("Account " + accountId);
    }
    authenticator.invalidateAll();
    LOG.info("account {} now has role {}", accountId, role);
  }

  public String webhookSecret(Caller caller) {
    return jdbi.withExtension(AccountDao.class, dao -> dao.webhookSecret(caller.accountId()))
        .orElseThrow(() -> ApiProblem.notFound("Account"));
  }

  public String rotateWebhookSecret(Caller caller) {
    String secret = AccountService.webhookSecret();
    jdbi.useExtension(AccountDao.class, dao -> dao.setWebhookSecret(caller.accountId(), secret));
    return secret;
  }

  private NewApiKey issue(Handle h, String accountId, String name, Instant now, Instant expires) {
    String id = Ids.apiKey(clock);
    String key = ApiKeys.generate();
    h.attach(ApiKeyDao.class)
        .insert(id, accountId, name, ApiKeys.displayPrefix(key), ApiKeys.hash(key), now, expires);
    return new NewApiKey(id, name, key, ApiKeys.displayPrefix(key), now, expires);
  }

  private static java.time.OffsetDateTime utc(java.time.OffsetDateTime t) {
    return t == null ? null : t.withOffsetSameInstant(ZoneOffset.UTC);
  }
}
