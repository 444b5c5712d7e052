package com.kosmosx.api.billing;

import com.kosmosx.api.errors.ApiProblem;
import com.kosmosx.contracts.AccountPlan.PlanKind;
import com.kosmosx.contracts.Billing;
import com.kosmosx.contracts.JobType;
import com.kosmosx.contracts.PriceList;
import java.math.BigDecimal;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.jdbi.v3.core.Jdbi;

/**
 * Revenue for finance, by product: pay-as-you-go usage, dedicated fees, overage, detection
 * surcharges, adjustments and the total, plus the top accounts of the period.
 *
 * <ul>
 *   <li><b>month</b>: each month's invoice (frozen if closed, else as of now), so a month's row is
 *       exactly what its invoice lines add up to, to the cent.
 *   <li><b>day</b>: the same revenue accrued by day, exact (not rounded): usage priced by the pure
 *       rule from the day rollups under the month's plan; a dedicated month's overage on the day
 *       its allowance ran out (the rule on the month's units through that day, minus through the
 *       day before); fees and adjustments on the first day of the month whose invoice carries them.
 *       A month's days add up to its invoice before the invoice rounds each line to the cent.
 * </ul>
 */
public final class Revenue {
  public static final List<String> COLUMNS =
      List.of(
          "period_start",
          "product",
          "status",
          "payg_usd",
          "fees_usd",
          "overage_usd",
          "detection_usd",
          "adjustments_usd",
          "total_usd");

  static final int MAX_DAYS = 366;
  static final int MAX_MONTHS = 120;
  static final int TOP = 10;

  private final Jdbi jdbi;
  private final PriceList prices;
  private final Invoices invoices;

  public Revenue(Jdbi jdbi, PriceList prices, Invoices invoices) {
    this.jdbi = jdbi;
    this.prices = prices;
    this.invoices = invoices;
  }

  /** One period's money for one product. */
  private static final class Money {
    BigDecimal payg = BigDecimal.ZERO;
    BigDecimal fees = BigDecimal.ZERO;
    BigDecimal overage = BigDecimal.ZERO;
    BigDecimal detection = BigDecimal.ZERO;
    BigDecimal adjustments = BigDecimal.ZERO;

    BigDecimal total() {
      return payg.add(fees).add(overage).add(detection).add(adjustments);
    }

    void add(Money o) {
      payg = payg.add(o.payg);
      fees = fees.add(o.fees);
      overage = overage.add(o.overage);
      detection = detection.add(o.detection);
      adjustments = adjustments.add(o.adjustments);
    }
  }

  public Map<String, Object> report(LocalDate from, LocalDate to, String granularity) {
    if (!"day".equals(granularity) && !"month".equals(granularity)) {
      throw ApiProblem.validation("Query parameter 'granularity' is day or month.", "granularity");
    }
    if (to.isBefore(from)) {
      throw ApiProblem.validation("'from' is on or before 'to'.", "to");
    }
    YearMonth firstMonth = YearMonth.from(from);
    YearMonth lastMonth = YearMonth.from(to);
    if ("day".equals(granularity) && ChronoUnit.DAYS.between(from, to) >= MAX_DAYS) {
      throw ApiProblem.validation("A daily report covers at most " + MAX_DAYS + " days.", "to");
    }
    if (ChronoUnit.MONTHS.between(firstMonth, lastMonth) >= MAX_MONTHS) {
      throw ApiProblem.validation("A report covers at most " + MAX_MONTHS + " months.", "to");
    }
    // period -> product -> money
    Map<LocalDate, Map<JobType, Money>> periods = new TreeMap<>();
    Map<LocalDate, String> status = new HashMap<>();
    Map<String, BigDecimal> byAccount = new HashMap<>();
    for (YearMonth m = firstMonth; !m.isAfter(lastMonth); m = m.plusMonths(1)) {
      Invoices.State state = invoices.state(m);
      String monthStatus = state.closed() ? "closed" : "open";
      List<Invoices.Item> items = state.items();
      for (Invoices.Item i : items) {
        byAccount.merge(i.account(), i.total(), BigDecimal::add);
      }
      if ("month".equals(granularity)) {
        Map<JobType, Money> row = row(periods, m.atDay(1));
        status.put(m.atDay(1), monthStatus);
        for (Invoices.Item i : items) {
          Money money = row.get(i.product());
          if (i.adjustment()) {
            money.adjustments = money.adjustments.add(i.usageTotal());
            continue;
          }
          money.fees = money.fees.add(i.fee());
          money.detection = money.detection.add(i.detection());
          if (i.plan() == PlanKind.DEDICATED) {
            money.overage = money.overage.add(i.usage());
          } else {
            money.payg = money.payg.add(i.usage());
          }
        }
      } else {
        daily(m, items, from, to, periods, status, monthStatus);
      }
    }
    List<Map<String, Object>> rows = new ArrayList<>();
    Map<JobType, Money> totals = new TreeMap<>();
    for (var p : periods.entrySet()) {
      for (var e : p.getValue().entrySet()) {
        Money m = e.getValue();
        totals.computeIfAbsent(e.getKey(), k -> new Money()).add(m);
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("period_start", p.getKey().toString());
        r.put("product", e.getKey().wire());
        r.put("status", status.get(p.getKey()));
        put(r, m);
        rows.add(r);
      }
    }
    List<Map<String, Object>> totalRows = new ArrayList<>();
    Money all = new Money();
    for (var e : totals.entrySet()) {
      Map<String, Object> r = new LinkedHashMap<>();
      r.put("product", e.getKey().wire());
      put(r, e.getValue());
      totalRows.add(r);
      all.add(e.getValue());
    }
    Map<String, Object> allRow = new LinkedHashMap<>();
    allRow.put("product", "all");
    put(allRow, all);
    totalRows.add(allRow);
    List<Map<String, Object>> top = new ArrayList<>();
    byAccount.entrySet().stream()
        .filter(e -> e.getValue().signum() != 0)
        .sorted(
            Map.Entry.<String, BigDecimal>comparingByValue(Comparator.reverseOrder())
                .thenComparing(Map.Entry.comparingByKey()))
        .limit(TOP)
        .forEach(
            e -> {
              Map<String, Object> r = new LinkedHashMap<>();
              r.put("account_id", e.getKey());
              r.put("total_usd", money(e.getValue()));
              top.add(r);
            });
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("from", from.toString());
    out.put("to", to.toString());
    out.put("granularity", granularity);
    out.put("rows", rows);
    out.put("totals", totalRows);
    out.put("top_accounts", top);
    out.put(
        "top_accounts_months",
        List.of(firstMonth.toString(), lastMonth.toString())); // whole invoices of these months
    return out;
  }

  private static Map<JobType, Money> row(Map<LocalDate, Map<JobType, Money>> periods, LocalDate d) {
    return periods.computeIfAbsent(
        d,
        k -> {
          Map<JobType, Money> m = new TreeMap<>();
          for (JobType t : JobType.values()) {
            m.put(t, new Money());
          }
          return m;
        });
  }

  /** One month's days within [from, to]: usage by the rule from the day rollups. */
  private void daily(
      YearMonth month,
      List<Invoices.Item> items,
      LocalDate from,
      LocalDate to,
      Map<LocalDate, Map<JobType, Money>> periods,
      Map<LocalDate, String> status,
      String monthStatus) {
    Map<String, PlanKind> plans = jdbi.withHandle(h -> Invoices.plans(h, month));
    // account|product -> day -> {units, detection}, every day of the month (overage accrues from
    // the month's start even when the report starts later)
    Map<String, TreeMap<LocalDate, long[]>> days = new HashMap<>();
    jdbi.useHandle(
        h ->
            h.createQuery(
                    "SELECT account_id, product, period_start, billable_tokens, billable_images,"
                        + " detection_images FROM usage_rollups WHERE period = 'day'"
                        + " AND period_start >= :start AND period_start < :end")
                .bind("start", Invoices.start(month))
                .bind("end", Invoices.start(month.plusMonths(1)))
                .map(
                    (rs, ctx) -> {
                      JobType p = JobType.fromWire(rs.getString(2));
                      LocalDate d =
                          rs.getObject(3, OffsetDateTime.class)
                              .withOffsetSameInstant(ZoneOffset.UTC)
                              .toLocalDate();
                      long units = p == JobType.TEXT ? rs.getLong(4) : rs.getLong(5);
                      long[] u =
                          days.computeIfAbsent(
                                  rs.getString(1) + "|" + p.wire(), k -> new TreeMap<>())
                              .computeIfAbsent(d, k -> new long[2]);
                      u[0] += units;
                      u[1] += rs.getLong(6);
                      return u;
                    })
                .forEach(u -> {}));
    for (LocalDate d = month.atDay(1); !d.isAfter(month.atEndOfMonth()); d = d.plusDays(1)) {
      if (!d.isBefore(from) && !d.isAfter(to)) {
        row(periods, d);
        status.put(d, monthStatus);
      }
    }
    for (var e : days.entrySet()) {
      JobType product = JobType.fromWire(e.getKey().substring(e.getKey().indexOf('|') + 1));
      PriceList.Product p = prices.product(product);
      PlanKind plan = plans.getOrDefault(e.getKey(), PlanKind.PAYG);
      long cumulative = 0;
      for (var d : e.getValue().entrySet()) {
        long before = cumulative;
        cumulative += d.getValue()[0];
        if (d.getKey().isBefore(from) || d.getKey().isAfter(to)) {
          continue;
        }
        Money m = row(periods, d.getKey()).get(product);
        m.detection = m.detection.add(Billing.detectionAmount(prices, d.getValue()[1]));
        if (plan == PlanKind.DEDICATED) {
          m.overage =
              m.overage.add(
                  Billing.overage(p, cumulative)
                      .overageAmount()
                      .subtract(Billing.overage(p, before).overageAmount()));
        } else {
          m.payg = m.payg.add(Billing.paygAmount(p, d.getValue()[0]));
        }
      }
    }
    LocalDate first = month.atDay(1);
    if (!first.isBefore(from) && !first.isAfter(to)) {
      for (Invoices.Item i : items) {
        Money m = row(periods, first).get(i.product());
        if (i.adjustment()) {
          m.adjustments = m.adjustments.add(i.usageTotal());
        } else {
          m.fees = m.fees.add(i.fee());
        }
      }
    }
  }

  private static void put(Map<String, Object> r, Money m) {
    r.put("payg_usd", money(m.payg));
    r.put("fees_usd", money(m.fees));
    r.put("overage_usd", money(m.overage));
    r.put("detection_usd", money(m.detection));
    r.put("adjustments_usd", money(m.adjustments));
    r.put("total_usd", money(m.total()));
  }

  /** Exact, with at least two decimals: "12.50", "0.00042". */
  static String money(BigDecimal v) {
    BigDecimal s = v.stripTrailingZeros();
    return (s.scale() < 2 ? s.setScale(2) : s).toPlainString();
  }
}
