package com.kosmosx.api.auth;

import com.kosmosx.api.accounts.Limits;
import com.kosmosx.api.accounts.Passwords;
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
  private final Limits limits;

  public BasicAuthenticator(Jdbi jdbi, Passwords passwords, Limits limits) {
    this.jdbi = jdbi;
    this.passwords = passwords;
    this.limits = limits;
    this.dummyHash = passwords.hash("not a real password, only here to spend the same time");
  }

  /**
   * Checks the password; 429 for an address that failed too often, before any bcrypt work, so a
   * brute-force run costs the attacker time and us nothing.
   */
  public Optional<Caller> authenticate(String username, String password, String address) {
    var reservation = limits.reservePasswordCheck(address);
    Optional<Caller> caller = check(username, password);
    if (caller.isPresent()) {
      limits.passwordAccepted(reservation);
    }
    return caller;
  }

  private Optional<Caller> check(String username, String password) {
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
