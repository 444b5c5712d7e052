package com.kosmosx.api.billing;

import com.kosmosx.api.errors.ApiProblem;
import com.kosmosx.contracts.AccountPlan.PlanKind;
import com.kosmosx.contracts.Billing;
import com.kosmosx.contracts.JobType;
import com.kosmosx.contracts.PriceList;
import java.math.BigDecimal;
import java.time.Clock;
import java.time.Instant;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.Jdbi;

/**
 * The invoice book: a month's invoice, live while the month is open and frozen once it is closed.
 *
 * <p>An invoice is made of items, one per account, product and <em>origin month</em>:
 *
 * <ul>
 *   <li>the month's own item (origin = the month): its usage under the month's plan from the
 *       schedule (what {@code GET} plan says), priced by {@link Billing#invoiceLine}: a dedicated
 *       plan's fee and overage, or pay-as-you-go usage, plus the detection surcharge. An account
 *       closed before the month began owes no fee for it; the month it closed in is billed in full.
 *   <li>adjustments (origin = an earlier, closed month): usage of a closed month that metering
 *       counted after it was frozen. They are priced <em>at the margin</em>: the pure rule applied
 *       to the origin month's whole usage, minus what its items already billed. So everything ever
 *       billed for a month adds up to exactly {@code invoiceLine(all of its usage)}, to the cent,
 *       and a late dedicated job inside the allowance costs nothing, as it would have on time.
 * </ul>
 *
 * <p>Months close in order: the first month with billing closes first, then each next one, and only
 * once it has ended. Adjustments land on the first open month (the one after the last closed
 * month); a month before the last closed one that has usage but no invoice (an event weeks late for
 * a month before the first close) is billed there the same way.
 */
public final class Invoices {
  /** The advisory lock that serializes closes. */
  private static final long CLOSE_LOCK = 0x6b6f736d6f73L; // "kosmos"

  /** One part of an invoice. {@code origin} equals {@code month} except for adjustments. */
  public record Item(
      String account,
      JobType product,
      YearMonth month,
      YearMonth origin,
      PlanKind plan,
      BigDecimal fee,
      long includedUnits,
      long units,
      long overageUnits,
      long detectionImages,
      BigDecimal usage,
      BigDecimal detection) {
    public boolean adjustment() {
      return !origin.equals(month);
    }

    /** Usage and detection, without the fee. */
    public BigDecimal usageTotal() {
      return usage.add(detection);
    }

    public BigDecimal total() {
      return fee.add(usage).add(detection);
    }

    String key() {
      return account + "|" + product.wire();
    }
  }

  private final Jdbi jdbi;
  private final PriceList prices;
  private final Clock clock;

  public Invoices(Jdbi jdbi, PriceList prices, Clock clock) {
    this.jdbi = jdbi;
    this.prices = prices;
    this.clock = clock;
  }

  static Instant start(YearMonth m) {
    return m.atDay(1).atStartOfDay(ZoneOffset.UTC).toInstant();
  }

  /** The month's invoice as JSON: lines per account and product, total, and whether frozen. */
  public Map<String, Object> invoice(YearMonth month) {
    return jdbi.withHandle(
        h -> {
          Optional<Instant> closedAt = closedAt(h, month);
          Optional<YearMonth> last = lastClosed(h);
          boolean closed = closedAt.isPresent() || last.map(l -> !month.isAfter(l)).orElse(false);
          List<Item> items = closed ? frozen(h, month) : live(h, month, last);
          Map<String, Object> out = new LinkedHashMap<>();
          out.put("month", month.toString());
          out.put("status", closed ? "closed" : "open");
          out.put("closed_at", closedAt.map(Instant::toString).orElse(null));
          List<Map<String, Object>> lines = lines(month, items);
          out.put("lines", lines);
          BigDecimal total = BigDecimal.ZERO.setScale(2);
          for (Item i : items) {
            total = total.add(i.total());
          }
          out.put("total_usd", total.toPlainString());
          return out;
        });
  }

  /** The items billed on {@code month}'s invoice: frozen if it is closed, else as of now. */
  public List<Item> items(YearMonth month) {
    return state(month).items();
  }

  /** A month's invoice items and whether they are frozen. */
  public record State(boolean closed, List<Item> items) {}

  public State state(YearMonth month) {
    return jdbi.withHandle(
        h -> {
          Optional<YearMonth> last = lastClosed(h);
          boolean closed = last.map(l -> !month.isAfter(l)).orElse(false);
          return new State(closed, closed ? frozen(h, month) : live(h, month, last));
        });
  }

  /**
   * Everything billed (or, on an open invoice, to be billed) for {@code origin}'s usage: its own
   * item and every adjustment for it, on frozen invoices and on the first open one.
   */
  public List<Item> billedFor(YearMonth origin) {
    return jdbi.withHandle(
        h -> {
          Optional<YearMonth> last = lastClosed(h);
          List<Item> out = new ArrayList<>();
          h.createQuery("SELECT * FROM invoice_items WHERE origin_month = :origin")
              .bind("origin", origin.atDay(1))
              .map((rs, ctx) -> item(rs))
              .forEach(out::add);
          YearMonth open = last.map(l -> l.plusMonths(1)).orElse(null);
          if (open == null || !origin.isBefore(open)) {
            // Not closed yet: its own item, live.
            live(h, origin, last).stream().filter(i -> i.origin().equals(origin)).forEach(out::add);
          } else {
            adjustments(h, open).stream().filter(i -> i.origin().equals(origin)).forEach(out::add);
          }
          return out;
        });
  }

  /**
   * Freezes {@code month}'s invoice: its items are written as they stand and never change again;
   * usage that reaches the month later is billed as an adjustment on the next open month. 409 if
   * the month has not ended, is closed already, or an earlier month with billing is still open.
   */
  public Map<String, Object> close(YearMonth month, String closedBy) {
    YearMonth current = YearMonth.now(clock.withZone(ZoneOffset.UTC));
    if (!month.isBefore(current)) {
      throw problem(
          "month_not_ended", "Only a month that has ended can be closed; " + month + " has not.");
    }
    jdbi.useTransaction(
        h -> {
          h.createQuery("SELECT pg_advisory_xact_lock(:k)::text")
              .bind("k", CLOSE_LOCK)
              .mapTo(String.class)
              .one();
          Optional<YearMonth> last = lastClosed(h);
          if (last.isPresent() && !month.isAfter(last.get())) {
            throw problem("month_closed", month + " is closed already.");
          }
          if (last.isPresent() && !month.equals(last.get().plusMonths(1))) {
            throw problem(
                "close_out_of_order",
                "Months close in order: close " + last.get().plusMonths(1) + " first.");
          }
          if (last.isEmpty()) {
            Optional<YearMonth> first = firstBilled(h);
            if (first.isPresent() && first.get().isBefore(month)) {
              throw problem(
                  "close_out_of_order",
                  "Months close in order: " + first.get() + " has billing; close it first.");
            }
          }
          List<Item> items = live(h, month, last);
          h.createUpdate(
                  "INSERT INTO invoice_months (month, closed_at, closed_by) VALUES (:m, :at, :by)")
              .bind("m", month.atDay(1))
              .bind("at", clock.instant())
              .bind("by", closedBy)
              .execute();
          var batch =
              h.prepareBatch(
                  "INSERT INTO invoice_items (month, account_id, product, origin_month, plan,"
                      + " fee_usd, included_units, billable_units, overage_units,"
                      + " detection_images, usage_usd, detection_usd) VALUES (:month, :account,"
                      + " :product, :origin, :plan, :fee, :included, :units, :overage, :detection,"
                      + " :usage, :detectionUsd)");
          for (Item i : items) {
            batch
                .bind("month", i.month().atDay(1))
                .bind("account", i.account())
                .bind("product", i.product().wire())
                .bind("origin", i.origin().atDay(1))
                .bind("plan", i.plan().name().toLowerCase(Locale.ROOT))
                .bind("fee", i.fee())
                .bind("included", i.includedUnits())
                .bind("units", i.units())
                .bind("overage", i.overageUnits())
                .bind("detection", i.detectionImages())
                .bind("usage", i.usage())
                .bind("detectionUsd", i.detection())
                .add();
          }
          if (!items.isEmpty()) {
            batch.execute();
          }
        });
    return invoice(month);
  }

  private static ApiProblem problem(String code, String detail) {
    return new ApiProblem(409, code, "Conflict", detail);
  }

  // ---- reading

  private static Optional<Instant> closedAt(Handle h, YearMonth month) {
    return h.createQuery("SELECT closed_at FROM invoice_months WHERE month = :m")
        .bind("m", month.atDay(1))
        .map((rs, ctx) -> rs.getObject(1, OffsetDateTime.class).toInstant())
        .findOne();
  }

  static Optional<YearMonth> lastClosed(Handle h) {
    return h.createQuery("SELECT max(month) FROM invoice_months")
        .map((rs, ctx) -> rs.getObject(1, LocalDate.class))
        .findOne()
        .filter(d -> d != null)
        .map(YearMonth::from);
  }

  /** The first month with any billing: usage, or a dedicated plan's fee. */
  private static Optional<YearMonth> firstBilled(Handle h) {
    return h.createQuery(
            "SELECT least((SELECT min((period_start AT TIME ZONE 'UTC')::date) FROM usage_rollups"
                + " WHERE period = 'month'), (SELECT min(effective_from) FROM account_plans"
                + " WHERE plan = 'dedicated'))")
        .map((rs, ctx) -> rs.getObject(1, LocalDate.class))
        .findOne()
        .filter(d -> d != null)
        .map(YearMonth::from);
  }

  private List<Item> frozen(Handle h, YearMonth month) {
    return h.createQuery(
            "SELECT * FROM invoice_items WHERE month = :m"
                + " ORDER BY account_id, product, origin_month")
        .bind("m", month.atDay(1))
        .map((rs, ctx) -> item(rs))
        .list();
  }

  private static Item item(java.sql.ResultSet rs) throws java.sql.SQLException {
    return new Item(
        rs.getString("account_id"),
        JobType.fromWire(rs.getString("product")),
        YearMonth.from(rs.getObject("month", LocalDate.class)),
        YearMonth.from(rs.getObject("origin_month", LocalDate.class)),
        PlanKind.valueOf(rs.getString("plan").toUpperCase(Locale.ROOT)),
        rs.getBigDecimal("fee_usd"),
        rs.getLong("included_units"),
        rs.getLong("billable_units"),
        rs.getLong("overage_units"),
        rs.getLong("detection_images"),
        rs.getBigDecimal("usage_usd"),
        rs.getBigDecimal("detection_usd"));
  }

  /** An open month's items as of now: its own, plus adjustments if it is the first open month. */
  private List<Item> live(Handle h, YearMonth month, Optional<YearMonth> lastClosed) {
    List<Item> out = new ArrayList<>(own(h, month));
    if (lastClosed.isPresent() && month.equals(lastClosed.get().plusMonths(1))) {
      out.addAll(adjustments(h, month));
    }
    out.sort(
        java.util.Comparator.comparing(Item::account)
            .thenComparing(Item::product)
            .thenComparing(Item::origin));
    return out;
  }

  /** Metered units per account and product for {@code month}: {billable units, detection}. */
  static Map<String, long[]> meteredUnits(Handle h, YearMonth month) {
    Map<String, long[]> out = new TreeMap<>();
    h.createQuery(
            "SELECT account_id, product, billable_tokens, billable_images, detection_images"
                + " FROM usage_rollups WHERE period = 'month' AND period_start = :start")
        .bind("start", start(month))
        .map(
            (rs, ctx) -> {
              JobType p = JobType.fromWire(rs.getString(2));
              long units = p == JobType.TEXT ? rs.getLong(3) : rs.getLong(4);
              return Map.entry(rs.getString(1) + "|" + p.wire(), new long[] {units, rs.getLong(5)});
            })
        .forEach(
            e -> {
              long[] u = out.computeIfAbsent(e.getKey(), k -> new long[2]);
              u[0] += e.getValue()[0];
              u[1] += e.getValue()[1];
            });
    return out;
  }

  /**
   * The plan of each account and product for {@code month}: the schedule's, except that an account
   * closed before the month began is pay-as-you-go (no fee). Keys: {@code account|product}.
   */
  static Map<String, PlanKind> plans(Handle h, YearMonth month) {
    Map<String, PlanKind> out = new HashMap<>();
    h.createQuery(
            "SELECT DISTINCT ON (account_id, product) account_id, product, plan"
                + " FROM account_plans WHERE effective_from <= :day"
                + " ORDER BY account_id, product, effective_from DESC")
        .bind("day", month.atDay(1))
        .map(
            (rs, ctx) ->
                Map.entry(
                    rs.getString(1) + "|" + rs.getString(2),
                    PlanKind.valueOf(rs.getString(3).toUpperCase(Locale.ROOT))))
        .forEach(e -> out.put(e.getKey(), e.getValue()));
    Set<String> closed = new HashSet<>();
    h.createQuery("SELECT id FROM accounts WHERE deleted_at < :start")
        .bind("start", start(month))
        .mapTo(String.class)
        .forEach(closed::add);
    out.replaceAll((k, v) -> closed.contains(k.substring(0, k.indexOf('|'))) ? PlanKind.PAYG : v);
    return out;
  }

  /** The month's own items: usage under the month's plan, and every dedicated plan's fee. */
  private List<Item> own(Handle h, YearMonth month) {
    Map<String, long[]> units = meteredUnits(h, month);
    Map<String, PlanKind> plans = plans(h, month);
    Set<String> keys = new java.util.TreeSet<>(units.keySet());
    plans.forEach(
        (k, p) -> {
          if (p == PlanKind.DEDICATED) {
            keys.add(k);
          }
        });
    List<Item> out = new ArrayList<>();
    for (String k : keys) {
      long[] u = units.getOrDefault(k, new long[2]);
      out.add(
          ownItem(
              k.substring(0, k.indexOf('|')),
              JobType.fromWire(k.substring(k.indexOf('|') + 1)),
              month,
              plans.getOrDefault(k, PlanKind.PAYG),
              u[0],
              u[1]));
    }
    return out;
  }

  Item ownItem(String account, JobType product, YearMonth month, PlanKind plan, long u, long d) {
    Billing.InvoiceLine line = Billing.invoiceLine(prices, product, plan, u, d);
    return new Item(
        account,
        product,
        month,
        month,
        plan,
        line.fee(),
        line.includedUnits(),
        u,
        line.overageUnits(),
        d,
        line.usageAmount(),
        line.detectionAmount());
  }

  /**
   * Usage of closed months not billed yet, priced at the margin, for the first open month {@code
   * open}: for each earlier month, account and product, the pure rule on all of its usage now,
   * minus everything its items have billed.
   */
  private List<Item> adjustments(Handle h, YearMonth open) {
    Map<YearMonth, Map<String, long[]>> now = new TreeMap<>();
    h.createQuery(
            "SELECT period_start, account_id, product, billable_tokens, billable_images,"
                + " detection_images FROM usage_rollups WHERE period = 'month'"
                + " AND period_start < :open")
        .bind("open", start(open))
        .map(
            (rs, ctx) -> {
              YearMonth m =
                  YearMonth.from(
                      rs.getObject(1, OffsetDateTime.class).withOffsetSameInstant(ZoneOffset.UTC));
              JobType p = JobType.fromWire(rs.getString(3));
              long units = p == JobType.TEXT ? rs.getLong(4) : rs.getLong(5);
              long[] u =
                  now.computeIfAbsent(m, k -> new TreeMap<>())
                      .computeIfAbsent(rs.getString(2) + "|" + p.wire(), k -> new long[2]);
              u[0] += units;
              u[1] += rs.getLong(6);
              return m;
            })
        .list();
    record Billed(long units, long detection, BigDecimal usage, BigDecimal det, PlanKind plan) {}
    Map<String, Billed> billed = new HashMap<>();
    h.createQuery(
            "SELECT origin_month, account_id, product, sum(billable_units),"
                + " sum(detection_images), sum(usage_usd), sum(detection_usd),"
                + " max(CASE WHEN month = origin_month THEN plan END)"
                + " FROM invoice_items WHERE origin_month < :open"
                + " GROUP BY origin_month, account_id, product")
        .bind("open", open.atDay(1))
        .map(
            (rs, ctx) ->
                Map.entry(
                    YearMonth.from(rs.getObject(1, LocalDate.class))
                        + "|"
                        + rs.getString(2)
                        + "|"
                        + rs.getString(3),
                    new Billed(
                        rs.getLong(4),
                        rs.getLong(5),
                        rs.getBigDecimal(6),
                        rs.getBigDecimal(7),
                        rs.getString(8) == null
                            ? null
                            : PlanKind.valueOf(rs.getString(8).toUpperCase(Locale.ROOT)))))
        .forEach(e -> billed.put(e.getKey(), e.getValue()));
    List<Item> out = new ArrayList<>();
    for (var month : now.entrySet()) {
      YearMonth origin = month.getKey();
      Map<String, PlanKind> plans = null;
      for (var e : month.getValue().entrySet()) {
        Billed b =
            billed.getOrDefault(
                origin + "|" + e.getKey(),
                new Billed(0, 0, BigDecimal.ZERO, BigDecimal.ZERO, null));
        long units = e.getValue()[0] - b.units();
        long detection = e.getValue()[1] - b.detection();
        if (units == 0 && detection == 0) {
          continue;
        }
        PlanKind plan = b.plan();
        if (plan == null) {
          if (plans == null) {
            plans = plans(h, origin);
          }
          plan = plans.getOrDefault(e.getKey(), PlanKind.PAYG);
        }
        String account = e.getKey().substring(0, e.getKey().indexOf('|'));
        JobType product = JobType.fromWire(e.getKey().substring(e.getKey().indexOf('|') + 1));
        Billing.InvoiceLine all =
            Billing.invoiceLine(prices, product, plan, e.getValue()[0], e.getValue()[1]);
        long overBefore =
            plan == PlanKind.DEDICATED
                ? Billing.overage(prices.product(product), b.units()).overageUnits()
                : 0;
        out.add(
            new Item(
                account,
                product,
                open,
                origin,
                plan,
                BigDecimal.ZERO.setScale(2),
                0,
                units,
                all.overageUnits() - overBefore,
                detection,
                all.usageAmount().subtract(b.usage()),
                all.detectionAmount().subtract(b.det())));
      }
    }
    return out;
  }

  /** Invoice lines: one per account and product; adjustments summed into their line. */
  static List<Map<String, Object>> lines(YearMonth month, List<Item> items) {
    Map<String, Map<String, Object>> lines = new TreeMap<>();
    for (Item i : items) {
      Map<String, Object> l =
          lines.computeIfAbsent(
              i.key(),
              k -> {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("account_id", i.account());
                m.put("month", month.toString());
                m.put("product", i.product().wire());
                m.put("plan", null);
                m.put("fee_usd", BigDecimal.ZERO.setScale(2));
                m.put("included_units", 0L);
                m.put("billable_units", 0L);
                m.put("overage_units", 0L);
                m.put("usage_usd", BigDecimal.ZERO.setScale(2));
                m.put("detection_usd", BigDecimal.ZERO.setScale(2));
                m.put("adjustment_units", 0L);
                m.put("adjustment_usd", BigDecimal.ZERO.setScale(2));
                m.put("total_usd", BigDecimal.ZERO.setScale(2));
                return m;
              });
      if (i.adjustment()) {
        l.put("adjustment_units", (Long) l.get("adjustment_units") + i.units());
        l.put("adjustment_usd", ((BigDecimal) l.get("adjustment_usd")).add(i.usageTotal()));
        if (l.get("plan") == null) {
          l.put("plan", "payg"); // no usage of its own this month: no plan, no fee
        }
      } else {
        l.put("plan", i.plan().name().toLowerCase(Locale.ROOT));
        l.put("fee_usd", i.fee());
        l.put("included_units", i.includedUnits());
        l.put("billable_units", i.units());
        l.put("overage_units", i.overageUnits());
        l.put("usage_usd", i.usage());
        l.put("detection_usd", i.detection());
      }
      l.put("total_usd", ((BigDecimal) l.get("total_usd")).add(i.total()));
    }
    List<Map<String, Object>> out = new ArrayList<>();
    for (Map<String, Object> l : lines.values()) {
      for (String money :
          List.of("fee_usd", "usage_usd", "detection_usd", "adjustment_usd", "total_usd")) {
        l.put(money, ((BigDecimal) l.get(money)).setScale(2).toPlainString());
      }
      out.add(l);
    }
    return out;
  }
}
