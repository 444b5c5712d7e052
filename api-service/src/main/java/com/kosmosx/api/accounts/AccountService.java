package com.kosmosx.api.accounts;

import com.kosmosx.api.api.AccountCreated;
import com.kosmosx.api.api.CreateAccountRequest;
import com.kosmosx.api.api.NewApiKey;
import com.kosmosx.api.db.AccountDao;
import com.kosmosx.api.db.ApiKeyDao;
import com.kosmosx.api.errors.ApiProblem;
import com.kosmosx.api.jobs.Ids;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Instant;
import java.util.Base64;
import java.util.regex.Pattern;
import org.jdbi.v3.core.Jdbi;
import org.jdbi.v3.core.statement.UnableToExecuteStatementException;
import org.postgresql.util.PSQLException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Account creation and the bootstrap admin. Keys and passwords are only ever stored hashed. */
public final class AccountService {
  private static final Logger LOG = LoggerFactory.getLogger(AccountService.class);
  private static final Pattern USERNAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{2,31}");
  private static final Pattern EMAIL =
      Pattern.compile("[^\\s@\\p{Cntrl}]{1,64}@[A-Za-z0-9.-]{1,189}\\.[A-Za-z]{2,63}");
  private static final SecureRandom RANDOM = new SecureRandom();
  static final String BOOTSTRAP_ADMIN_ID = "acc_bootstrap_admin";

  private final Jdbi jdbi;
  private final Passwords passwords;
  private final Clock clock;

  public AccountService(Jdbi jdbi, Passwords passwords, Clock clock) {
    this.jdbi = jdbi;
    this.passwords = passwords;
    this.clock = clock;
  }

  public AccountCreated create(CreateAccountRequest r) {
    return create(r, "user");
  }

  /** Creates an account with the given role ({@code user}, {@code finance}, {@code admin}). */
  public AccountCreated create(CreateAccountRequest r, String role) {
    if (r == null) {
      throw ApiProblem.validation("A JSON body is required.");
    }
    if (r.username() == null || !USERNAME.matcher(r.username()).matches()) {
      throw ApiProblem.validation(
          "Field 'username' must be 3-32 characters: letters, digits, '_', '.', '-'.", "username");
    }
    if (r.email() == null || r.email().length() > 254 || !EMAIL.matcher(r.email()).matches()) {
      throw ApiProblem.validation("Field 'email' must be an email address.", "email");
    }
    Passwords.checkStrength(r.password());
    String accountId = Ids.account(clock);
    String keyId = Ids.apiKey(clock);
    String key = ApiKeys.generate();
    String secret = webhookSecret();
    Instant now = clock.instant();
    String hash = passwords.hash(r.password());
    try {
      jdbi.useTransaction(
          h -> {
            h.attach(AccountDao.class)
                .insert(accountId, r.username(), r.email(), hash, role, secret, now);
            h.attach(ApiKeyDao.class)
                .insert(
                    keyId,
                    accountId,
                    "default",
                    ApiKeys.displayPrefix(key),
                    ApiKeys.hash(key),
                    now,
                    null);
          });
    } catch (UnableToExecuteStatementException e) {
      if (e.getCause() instanceof PSQLException p && "23505".equals(p.getSQLState())) {
        throw ApiProblem.conflict("The username is taken.");
      }
      throw e;
    }
    LOG.info("account {} created with key {}", accountId, keyId);
    return new AccountCreated(
        accountId,
        r.username(),
        new NewApiKey(keyId, "default", key, ApiKeys.displayPrefix(key), now, null),
        secret);
  }

  /**
   * Makes the key from {@code KOSMOS_BOOTSTRAP_ADMIN_KEY} authenticate an admin account, so
   * automation can start from a known credential. Idempotent across restarts and instances.
   */
  public void ensureBootstrapAdmin(String key) {
    if (key == null || key.isBlank()) {
      return;
    }
    if (key.length() < 20) {
      throw new IllegalArgumentException("the bootstrap admin key needs at least 20 characters");
    }
    Instant now = clock.instant();
    byte[] hash = ApiKeys.hash(key);
    jdbi.useTransaction(
        h -> {
          // An unguessable password: the bootstrap admin signs in with its key only.
          h.attach(AccountDao.class)
              .insertAdminIfMissing(
                  BOOTSTRAP_ADMIN_ID,
                  "admin",
                  "admin@localhost.invalid",
                  passwords.hash(webhookSecret().substring(0, 40)),
                  webhookSecret(),
                  now);
          boolean present =
              h.createQuery("SELECT count(*) FROM api_keys WHERE key_hash = :h")
                      .bind("h", hash)
                      .mapTo(Long.class)
                      .one()
                  > 0;
          // The configured key is the bootstrap key: one set before it (the variable changed, say
          // after a leak) stops working now, on every instance within the key cache's TTL.
          int revoked =
              h.createUpdate(
                      "UPDATE api_keys SET revoked_at = :now WHERE account_id = :a"
                          + " AND name = 'bootstrap' AND key_hash <> :h AND revoked_at IS NULL")
                  .bind("now", now)
                  .bind("a", BOOTSTRAP_ADMIN_ID)
                  .bind("h", hash)
                  .execute();
          if (revoked > 0) {
            LOG.warn(
                "revoked {} earlier bootstrap admin key(s): the configured key changed", revoked);
          }
          if (!present) {
            h.attach(ApiKeyDao.class)
                .insert(
                    Ids.apiKey(clock),
                    BOOTSTRAP_ADMIN_ID,
                    "bootstrap",
                    ApiKeys.displayPrefix(key),
                    hash,
                    now,
                    null);
          }
        });
  }

  static String webhookSecret() {
    byte[] b = new byte[32];
    RANDOM.nextBytes(b);
    return "whsec_" + Base64.getEncoder().encodeToString(b);
  }
}
