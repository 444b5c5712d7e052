package com.kosmosx.api.jobs;

import java.security.SecureRandom;
import java.time.Clock;

/**
 * Public ids: a prefix and 26 Crockford base-32 characters, the first ten encoding the creation
 * millisecond (so ids sort by time, which keeps list pagination and index locality cheap) and the
 * rest 80 random bits.
 */
public final class Ids {
  private static final char[] ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz".toCharArray();
  private static final SecureRandom RANDOM = new SecureRandom();

  private Ids() {}

  public static String job(Clock clock) {
    return "job_" + sortable(clock.millis());
  }

  public static String account(Clock clock) {
    return "acc_" + sortable(clock.millis());
  }

  public static String apiKey(Clock clock) {
    return "key_" + sortable(clock.millis());
  }

  static String sortable(long millis) {
    char[] out = new char[26];
    long t = millis;
    for (int i = 9; i >= 0; i--) {
      out[i] = ALPHABET[(int) (t & 31)];
      t >>>= 5;
    }
    byte[] r = new byte[10];
    RANDOM.nextBytes(r);
    long hi = 0;
    for (int i = 0; i < 5; i++) {
      hi = (hi << 8) | (r[i] & 0xff);
    }
    long lo = 0;
    for (int i = 5; i < 10; i++) {
      lo = (lo << 8) | (r[i] & 0xff);
    }
    for (int i = 17; i >= 10; i--) {
      out[i] = ALPHABET[(int) (hi & 31)];
      hi >>>= 5;
    }
    for (int i = 25; i >= 18; i--) {
      out[i] = ALPHABET[(int) (lo & 31)];
      lo >>>= 5;
    }
    return new String(out);
  }
}
