package com.kosmosx.api.accounts;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.zip.CRC32;

/**
 * API keys: {@code kx_live_} + 43 base-62 characters (256 random bits) + a 6-character CRC-32
 * checksum, so secret scanners can tell a real key from a look-alike without asking us. Only the
 * SHA-256 of a key is stored: a key has 256 bits of entropy, so a fast hash is safe (bcrypt would
 * put a password hash on every request's hot path for no gain).
 */
public final class ApiKeys {
  public static final String PREFIX = "kx_live_";
  private static final String BASE62 =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  private static final int RANDOM_CHARS = 43;
  private static final int CHECKSUM_CHARS = 6;
  private static final SecureRandom RANDOM = new SecureRandom();

  private ApiKeys() {}

  public static String generate() {
    byte[] bytes = new byte[32];
    RANDOM.nextBytes(bytes);
    String body = base62(new java.math.BigInteger(1, bytes), RANDOM_CHARS);
    return PREFIX + body + checksum(body);
  }

  /** True when the key has our shape and its checksum matches (no database needed). */
  public static boolean wellFormed(String key) {
    if (key == null || key.length() != PREFIX.length() + RANDOM_CHARS + CHECKSUM_CHARS) {
      return false;
    }
    if (!key.startsWith(PREFIX)) {
      return false;
    }
    String body = key.substring(PREFIX.length(), PREFIX.length() + RANDOM_CHARS);
    String sum = key.substring(PREFIX.length() + RANDOM_CHARS);
    return MessageDigest.isEqual(
        checksum(body).getBytes(StandardCharsets.US_ASCII),
        sum.getBytes(StandardCharsets.US_ASCII));
  }

  /** The part of a key that may be shown again (lists, logs): prefix and four characters. */
  public static String displayPrefix(String key) {
    return key.substring(0, Math.min(key.length(), PREFIX.length() + 4));
  }

  public static byte[] hash(String key) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 missing from the JVM", e);
    }
  }

  static String checksum(String body) {
    CRC32 crc = new CRC32();
    crc.update(body.getBytes(StandardCharsets.US_ASCII));
    return base62(java.math.BigInteger.valueOf(crc.getValue()), CHECKSUM_CHARS);
  }

  private static String base62(java.math.BigInteger n, int width) {
    java.math.BigInteger base = java.math.BigInteger.valueOf(62);
    char[] out = new char[width];
    for (int i = width - 1; i >= 0; i--) {
      java.math.BigInteger[] qr = n.divideAndRemainder(base);
      out[i] = BASE62.charAt(qr[1].intValue());
      n = qr[0];
    }
    return new String(out);
  }
}
