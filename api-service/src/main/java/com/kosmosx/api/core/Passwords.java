package com.kosmosx.api.core;

import com.kosmosx.api.errors.ApiProblem;
import java.nio.charset.StandardCharsets;
import org.mindrot.jbcrypt.BCrypt;

/** bcrypt password hashing. bcrypt reads at most 72 bytes, so longer passwords are refused. */
public final class Passwords {
  public static final int MIN_CHARS = 8;
  public static final int MAX_BYTES = 72;
  private final int cost;

  public Passwords(int cost) {
    if (cost < 4 || cost > 31) {
      throw new IllegalArgumentException("bcrypt cost must be 4..31, was " + cost);
    }
    this.cost = cost;
  }

  public static void checkStrength(String password) {
    if (password == null || password.codePointCount(0, password.length()) < MIN_CHARS) {
      throw ApiProblem.validation(
          "The password must have at least " + MIN_CHARS + " characters.", "password");
    }
    if (password.getBytes(StandardCharsets.UTF_8).length > MAX_BYTES) {
      throw ApiProblem.validation(
          "The password must be at most " + MAX_BYTES + " bytes in UTF-8.", "password");
    }
  }

  public String hash(String password) {
    return BCrypt.hashpw(password, BCrypt.gensalt(cost));
  }

  public boolean matches(String password, String hash) {
    return hash != null && BCrypt.checkpw(password, hash);
  }
}
