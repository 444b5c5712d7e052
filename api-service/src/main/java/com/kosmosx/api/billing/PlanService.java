package com.kosmosx.api.billing;

import com.kosmosx.api.db.OutboxDao;
import com.kosmosx.api.errors.ApiProblem;
import com.kosmosx.contracts.AccountPlan;
import com.kosmosx.contracts.JobType;
import com.kosmosx.contracts.Topics;
import java.time.Clock;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.Jdbi;

/**
 * Account plans per product. A change applies from the first day of a calendar month (UTC), for
 * whole months, never prorated: by default from next month; an admin may date it from the current
 * month's first day (e.g. a contract signed this month) but never earlier, so a month already
 * invoiced is never rebilled. Every change is published, with the account's whole schedule, to the
 * compacted accounts topic through the outbox (metering bills by the plan in force at each usage
 * event); dedicated plans name the lane their jobs are routed to.
 */
public final class PlanService {
  public static final String DEFAULT_DEDICATED_LANE = "dedicated";
  private static final Pattern LANE = Pattern.compile("[a-z0-9][a-z0-9-]{0,39}");

  private final Jdbi jdbi;
  private final Clock clock;
  private final Runnable relayWakeUp;
  private final java.util.function.Consumer<String> laneCreated;

  /**
   * @param laneCreated called with each lane a plan names, so its topic exists before a job is
   *     routed there
   */
  public PlanService(
      Jdbi jdbi,
      Clock clock,
      Runnable relayWakeUp,
      java.util.function.Consumer<String> laneCreated) {
    this.jdbi = jdbi;
    this.clock = clock;
    this.relayWakeUp = relayWakeUp;
    this.laneCreated = laneCreated;
  }

  /** One product's requested plan. */
  public record Request(String plan, String lane, String effectiveFrom) {}

  /** Applies the changes and returns the account's schedule. */
  public Map<String, Object> set(String accountId, Map<String, Request> body) {
    if (body == null || body.isEmpty()) {
      throw ApiProblem.validation("Give a plan for \"text\" and/or \"image\".");
    }
    LocalDate thisMonth = LocalDate.now(clock.withZone(ZoneOffset.UTC)).withDayOfMonth(1);
    Map<JobType, AccountPlan.Change> changes = new EnumMap<>(JobType.class);
    for (var e : body.entrySet()) {
      JobType product;
      try {
        product = JobType.fromWire(e.getKey());
      } catch (IllegalArgumentException ex) {
        throw ApiProblem.validation("Products are \"text\" and \"image\".", e.getKey());
      }
      Request r = e.getValue();
      if (r == null || r.plan() == null) {
        throw ApiProblem.validation("Field 'plan' is payg or dedicated.", e.getKey() + ".plan");
      }
      AccountPlan.PlanKind kind;
      try {
        kind = AccountPlan.PlanKind.valueOf(r.plan().toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException ex) {
        throw ApiProblem.validation("Field 'plan' is payg or dedicated.", e.getKey() + ".plan");
      }
      String lane = null;
      if (kind == AccountPlan.PlanKind.DEDICATED) {
        lane = r.lane() == null ? DEFAULT_DEDICATED_LANE : r.lane();
        if (!LANE.matcher(lane).matches() || lane.equals(Topics.SHARED_LANE)) {
          throw ApiProblem.validation(
              "Field 'lane' is 1 to 40 lowercase letters, digits or dashes, not \"shared\".",
              e.getKey() + ".lane");
        }
      } else if (r.lane() != null) {
        throw ApiProblem.validation("Only dedicated plans have a lane.", e.getKey() + ".lane");
      }
      LocalDate from;
      try {
        from =
            r.effectiveFrom() == null
                ? thisMonth.plusMonths(1)
                : LocalDate.parse(r.effectiveFrom());
      } catch (java.time.format.DateTimeParseException ex) {
        throw ApiProblem.validation(
            "Field 'effective_from' is a date, YYYY-MM-01.", e.getKey() + ".effective_from");
      }
      if (from.getYear() > 9999) {
        throw ApiProblem.validation(
            "Field 'effective_from' is a date before the year 10000.",
            e.getKey() + ".effective_from");
      }
      if (from.getDayOfMonth() != 1 || from.isBefore(thisMonth)) {
        throw ApiProblem.validation(
            "Plans change on the first day of a month, from the current month ("
                + thisMonth
                + ") on: months already under way keep their plan for all their days.",
            e.getKey() + ".effective_from");
      }
      changes.put(product, new AccountPlan.Change(product, kind, lane, from));
    }
    Instant now = clock.instant();
    AccountPlan published =
        jdbi.inTransaction(
            h -> {
              boolean exists =
                  h.createQuery(
                              "SELECT count(*) FROM accounts WHERE id = :id AND deleted_at IS NULL")
                          .bind("id", accountId)
                          .mapTo(Integer.class)
                          .one()
                      > 0;
              if (!exists) {
                throw ApiProblem.notFound("Account " + accountId);
              }
              for (AccountPlan.Change c : changes.values()) {
                h.createUpdate(
                        "INSERT INTO account_plans (account_id, product, plan, lane, "
                            + "effective_from, created_at) VALUES (:a, :p, :plan, :lane, :from, :now) "
                            + "ON CONFLICT (account_id, product, effective_from) DO UPDATE SET "
                            + "plan = EXCLUDED.plan, lane = EXCLUDED.lane, created_at = EXCLUDED.created_at")
                    .bind("a", accountId)
                    .bind("p", c.product().wire())
                    .bind("plan", c.plan().name().toLowerCase(Locale.ROOT))
                    .bind("lane", c.lane())
                    .bind("from", c.effectiveFrom())
                    .bind("now", now)
                    .execute();
              }
              AccountPlan plan = load(h, accountId, now);
              h.attach(OutboxDao.class)
                  .insert(Topics.ACCOUNTS.name(), accountId, Topics.ACCOUNTS.serializeValue(plan));
              return plan;
            });
    changes.values().stream()
        .map(AccountPlan.Change::lane)
        .filter(java.util.Objects::nonNull)
        .distinct()
        .forEach(laneCreated);
    relayWakeUp.run();
    return view(published);
  }

  /** The account's schedule and the plans in force now. */
  public Map<String, Object> get(String accountId) {
    return view(
        jdbi.withHandle(
            h -> {
              boolean exists =
                  h.createQuery("SELECT count(*) > 0 FROM accounts WHERE id = :a")
                      .bind("a", accountId)
                      .mapTo(Boolean.class)
                      .one();
              if (!exists) {
                throw ApiProblem.notFound("Account " + accountId);
              }
              return load(h, accountId, clock.instant());
            }));
  }

  static AccountPlan load(Handle h, String accountId, Instant now) {
    List<AccountPlan.Change> schedule =
        h.createQuery(
                "SELECT product, plan, lane, effective_from FROM account_plans "
                    + "WHERE account_id = :a ORDER BY effective_from")
            .bind("a", accountId)
            .map(
                (rs, ctx) ->
                    new AccountPlan.Change(
                        JobType.fromWire(rs.getString("product")),
                        AccountPlan.PlanKind.valueOf(rs.getString("plan").toUpperCase(Locale.ROOT)),
                        rs.getString("lane"),
                        rs.getObject("effective_from", LocalDate.class)))
            .list();
    AccountPlan all = new AccountPlan(accountId, Map.of(), null, now, schedule);
    LocalDate today = LocalDate.ofInstant(now, ZoneOffset.UTC);
    Map<JobType, AccountPlan.PlanKind> current = new EnumMap<>(JobType.class);
    String lane = null;
    for (JobType t : JobType.values()) {
      AccountPlan.Change c = all.inForce(t, today);
      current.put(t, c == null ? AccountPlan.PlanKind.PAYG : c.plan());
      if (c != null && c.lane() != null && lane == null) {
        lane = c.lane();
      }
    }
    return new AccountPlan(accountId, current, lane, now, schedule);
  }

  /** Whether a dedicated plan is in force today for any of the account's products. */
  public boolean dedicatedNow(String accountId) {
    return jdbi.withHandle(
        h ->
            h.createQuery(
                        "SELECT count(*) FROM (SELECT DISTINCT ON (product) plan FROM account_plans "
                            + "WHERE account_id = :a AND effective_from <= :today "
                            + "ORDER BY product, effective_from DESC) AS current "
                            + "WHERE plan = 'dedicated'")
                    .bind("a", accountId)
                    .bind("today", LocalDate.now(clock.withZone(ZoneOffset.UTC)))
                    .mapTo(Integer.class)
                    .one()
                > 0);
  }

  private static Map<String, Object> view(AccountPlan p) {
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("account_id", p.accountId());
    Map<String, Object> current = new LinkedHashMap<>();
    LocalDate today = LocalDate.ofInstant(p.updatedAt(), ZoneOffset.UTC);
    for (JobType t : JobType.values()) {
      AccountPlan.Change c = p.inForce(t, today);
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("plan", c == null ? "payg" : c.plan().name().toLowerCase(Locale.ROOT));
      m.put("lane", c == null || c.lane() == null ? Topics.SHARED_LANE : c.lane());
      m.put("effective_from", c == null ? null : c.effectiveFrom().toString());
      current.put(t.wire(), m);
    }
    out.put("current", current);
    out.put(
        "schedule",
        p.schedule().stream()
            .map(
                c -> {
                  Map<String, Object> m = new LinkedHashMap<>();
                  m.put("product", c.product().wire());
                  m.put("plan", c.plan().name().toLowerCase(Locale.ROOT));
                  m.put("lane", c.lane());
                  m.put("effective_from", c.effectiveFrom().toString());
                  return m;
                })
            .toList());
    return out;
  }
}
