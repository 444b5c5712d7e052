package com.kosmosx.api.accounts;

import com.kosmosx.api.auth.Caller;
import com.kosmosx.api.errors.ApiProblem;
import java.time.Duration;

/**
 * The rate-limit policy: job submissions per key per minute (per plan: pay-as-you-go accounts get
 * one limit, accounts with a dedicated plan in force another), sign-ups per address per hour, and
 * failed password checks per address per 15 minutes (brute force). Counters are shared by every API
 * instance through {@link RateLimiter}.
 */
public final class Limits {
  public static final Duration MINUTE = Duration.ofMinutes(1);
  static final Duration HOUR = Duration.ofHours(1);
  static final Duration FAILED_PASSWORD_WINDOW = Duration.ofMinutes(15);

  private final RateLimiter limiter;
  private final java.util.function.ToIntFunction<Caller> submissionsPerMinute;
  private final int signupsPerHour;
  private final int failedPasswordsPerWindow;
  // The headers of non-submission answers read the counter through this cache, so a busy key's
  // GETs do not each cost a database read; submissions always count exactly.
  private final com.github.benmanes.caffeine.cache.Cache<String, RateLimiter.Decision> states =
      com.github.benmanes.caffeine.cache.Caffeine.newBuilder()
          .expireAfterWrite(java.time.Duration.ofSeconds(1))
          .maximumSize(100_000)
          .build();

  public Limits(
      RateLimiter limiter,
      int submissionsPerMinute,
      int signupsPerHour,
      int failedPasswordsPerWindow) {
    this(limiter, caller -> submissionsPerMinute, signupsPerHour, failedPasswordsPerWindow);
  }

  /**
   * @param submissionsPerMinute the submission limit of a caller's key (by its account's plan)
   */
  public Limits(
      RateLimiter limiter,
      java.util.function.ToIntFunction<Caller> submissionsPerMinute,
      int signupsPerHour,
      int failedPasswordsPerWindow) {
    this.limiter = limiter;
    this.submissionsPerMinute = submissionsPerMinute;
    this.signupsPerHour = signupsPerHour;
    this.failedPasswordsPerWindow = failedPasswordsPerWindow;
  }

  /** Counts a job submission; 429 {@code rate_limited} over the key's limit. */
  public RateLimiter.Decision admitSubmission(Caller caller) {
    int limit = submissionsPerMinute.applyAsInt(caller);
    RateLimiter.Decision d = limiter.hit(submissionBucket(caller), limit, MINUTE);
    states.put(submissionBucket(caller), d);
    if (!d.allowed()) {
      throw ApiProblem.tooMany(
          "rate_limited", "This key may submit " + limit + " jobs a minute.", d.resetSeconds());
    }
    return d;
  }

  /** The submission limit's state (at most 1 s old), for the RateLimit-* headers of other calls. */
  public RateLimiter.Decision submissionState(Caller caller) {
    return states.get(
        submissionBucket(caller),
        b -> limiter.peek(b, submissionsPerMinute.applyAsInt(caller), MINUTE));
  }

  public void admitSignup(String address) {
    RateLimiter.Decision d = limiter.hit("signup:ip:" + address, signupsPerHour, HOUR);
    if (!d.allowed()) {
      throw ApiProblem.tooMany(
          "rate_limited", "Too many sign-ups from this address; try later.", d.resetSeconds());
    }
  }

  /**
   * Reserves one password check for the address before any bcrypt work, atomically (one upsert that
   * counts and answers), so a concurrent burst gets at most the limit of checks, not as many as
   * raced past a read; 429 once the window's reservations are spent. A check that succeeds gives
   * its reservation back ({@link #passwordAccepted}): only failures use up the limit.
   */
  public RateLimiter.Reservation reservePasswordCheck(String address) {
    RateLimiter.Reservation r =
        limiter.reserve(failedBucket(address), failedPasswordsPerWindow, FAILED_PASSWORD_WINDOW);
    if (!r.decision().allowed()) {
      throw ApiProblem.tooMany(
          "rate_limited",
          "Too many failed sign-ins from this address; try again later.",
          r.decision().resetSeconds());
    }
    return r;
  }

  /** Returns a successful check's reservation. */
  public void passwordAccepted(RateLimiter.Reservation r) {
    limiter.release(r);
  }

  /**
   * One bucket per account, not per key: every key of an account shares the plan's limit, so more
   * keys never buy more throughput (and per key the limit holds all the more).
   */
  private static String submissionBucket(Caller caller) {
    return "jobs:acct:" + caller.accountId();
  }

  private static String failedBucket(String address) {
    return "pwfail:ip:" + address;
  }
}
