package com.kosmosx.api.auth;

import com.kosmosx.api.core.Passwords;
import com.kosmosx.api.db.AccountDao;
import com.kosmosx.api.db.AccountRow;
import java.util.Locale;
import java.util.Optional;
import org.jdbi.v3.core.Jdbi;

/**
 * Username and password (HTTP Basic) for account management. An unknown username costs the same
 * bcrypt work as a known one, so response times do not reveal which usernames exist.
 */
public final class BasicAuthenticator {
  private final Jdbi jdbi;
  private final Passwords passwords;
  private final String dummyHash;

  public BasicAuthenticator(Jdbi jdbi, Passwords passwords) {
    this.jdbi = jdbi;
    this.passwords = passwords;
    this.dummyHash = passwords.hash("not a real password, only here to spend the same time");
  }

  public Optional<Caller> authenticate(String username, String password) {
    if (username == null || password == null || username.length() > 64 || password.length() > 256) {
      return Optional.empty();
    }
    Optional<AccountRow> account =
        jdbi.withExtension(AccountDao.class, dao -> dao.findByUsername(username));
    String hash = account.map(AccountRow::passwordHash).orElse(dummyHash);
    boolean ok = passwords.matches(password, hash);
    if (!ok || account.isEmpty()) {
      return Optional.empty();
    }
    AccountRow a = account.get();
    return Optional.of(
        new Caller(a.id(), null, Caller.Role.valueOf(a.role().toUpperCase(Locale.ROOT)), null));
  }
}
