package com.kosmosx.api.billing;

import com.kosmosx.api.errors.ApiProblem;
import com.kosmosx.contracts.AccountPlan;
import com.kosmosx.contracts.BillableUnits;
import com.kosmosx.contracts.Billing;
import com.kosmosx.contracts.JobType;
import com.kosmosx.contracts.PriceList;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.time.Instant;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.jdbi.v3.core.Jdbi;

/**
 * Usage reports, invoices and reconciliation, read from the metering rollups in PostgreSQL.
 *
 * <p>Invoices: one line per account and product for a calendar month (UTC), under the plan in force
 * that month (plans change only at month starts). A dedicated line is the fee plus overage past the
 * allowance; a pay-as-you-go line is the usage; the detection surcharge is added either way; late
 * usage from closed months arrives as adjustments in the month it was billed. Every money figure is
 * rounded once, half-up to the cent, on its line ({@link Billing}).
 */
public final class BillingService {
  /** Column order of usage rows, in JSON and CSV. */
  public static final List<String> USAGE_COLUMNS =
      List.of(
          "account_id",
          "period_start",
          "product",
          "plan",
          "adjustment",
          "requests",
          "input_tokens",
          "output_tokens",
          "billable_tokens",
          "images",
          "billable_images",
          "amount_usd");

  /** Column order of invoice lines, in JSON and CSV. */
  public static final List<String> INVOICE_COLUMNS =
      List.of(
          "account_id",
          "month",
          "product",
          "plan",
          "fee_usd",
          "included_units",
          "billable_units",
          "overage_units",
          "usage_usd",
          "detection_usd",
          "adjustment_units",
          "adjustment_usd",
          "total_usd");

  private final Jdbi jdbi;
  private final PriceList prices;

  public BillingService(Jdbi jdbi, PriceList prices) {
    this.jdbi = jdbi;
    this.prices = prices;
  }

  static final int MIN_YEAR = 1970;
  static final int MAX_YEAR = 9999;

  public static LocalDate date(String value, String field) {
    if (value == null) {
      throw ApiProblem.validation(
          "Query parameter '" + field + "' is required (YYYY-MM-DD).", field);
    }
    LocalDate date;
    try {
      date = LocalDate.parse(value);
    } catch (DateTimeParseException e) {
      throw ApiProblem.validation("Query parameter '" + field + "' is a date, YYYY-MM-DD.", field);
    }
    // Dates past year 9999 parse (ISO's expanded years) but overflow the arithmetic on them and
    // the database's range: refuse them here rather than fail later.
    if (date.getYear() < MIN_YEAR || date.getYear() > MAX_YEAR) {
      throw ApiProblem.validation(
          "Query parameter '"
              + field
              + "' is a date between "
              + MIN_YEAR
              + " and "
              + MAX_YEAR
              + ".",
          field);
    }
    return date;
  }

  public static YearMonth month(String value) {
    if (value == null) {
      throw ApiProblem.validation("Query parameter 'month' is required (YYYY-MM).", "month");
    }
    YearMonth month;
    try {
      month = YearMonth.parse(value);
    } catch (DateTimeParseException e) {
      throw ApiProblem.validation("Query parameter 'month' is YYYY-MM.", "month");
    }
    if (month.getYear() < MIN_YEAR || month.getYear() > MAX_YEAR) {
      throw ApiProblem.validation(
          "Query parameter 'month' is between " + MIN_YEAR + "-01 and " + MAX_YEAR + "-12.",
          "month");
    }
    return month;
  }

  /** Usage rows per period, oldest first; {@code accountId} null means every account. */
  public List<Map<String, Object>> usage(
      String accountId, LocalDate from, LocalDate to, String granularity) {
    if (!"day".equals(granularity) && !"month".equals(granularity) && !"hour".equals(granularity)) {
      throw ApiProblem.validation(
          "Query parameter 'granularity' is hour, day or month.", "granularity");
    }
    if (to.isBefore(from) || from.plusDays(3_660).isBefore(to)) {
      throw ApiProblem.validation("'from' is on or before 'to', at most ten years apart.", "to");
    }
    Instant start =
        "month".equals(granularity)
            ? from.withDayOfMonth(1).atStartOfDay(ZoneOffset.UTC).toInstant()
            : from.atStartOfDay(ZoneOffset.UTC).toInstant();
    Instant end = to.plusDays(1).atStartOfDay(ZoneOffset.UTC).toInstant();
    return jdbi.withHandle(
        h ->
            h.createQuery(
                    "SELECT * FROM usage_rollups WHERE period = :period AND period_start >= :start"
                        + " AND period_start < :end"
                        + " AND (CAST(:account AS text) IS NULL OR account_id = :account)"
                        + " ORDER BY period_start, account_id, product, adjustment, plan")
                .bind("period", granularity)
                .bind("start", start)
                .bind("end", end)
                .bind("account", accountId)
                .map(
                    (rs, ctx) -> {
                      Map<String, Object> m = new LinkedHashMap<>();
                      m.put("account_id", rs.getString("account_id"));
                      m.put(
                          "period_start",
                          rs.getObject("period_start", OffsetDateTime.class)
                              .toInstant()
                              .toString());
                      m.put("product", rs.getString("product"));
                      m.put("plan", rs.getString("plan"));
                      m.put("adjustment", rs.getBoolean("adjustment"));
                      m.put("requests", rs.getLong("requests"));
                      m.put("input_tokens", rs.getLong("input_tokens"));
                      m.put("output_tokens", rs.getLong("output_tokens"));
                      m.put("billable_tokens", rs.getLong("billable_tokens"));
                      m.put("images", rs.getLong("images"));
                      m.put("billable_images", rs.getLong("billable_images"));
                      BigDecimal amount =
                          rs.getBigDecimal("payg_amount")
                              .add(rs.getBigDecimal("overage_amount"))
                              .add(rs.getBigDecimal("detection_amount"));
                      m.put("amount_usd", amount.setScale(6, RoundingMode.HALF_UP).toPlainString());
                      return m;
                    })
                .list());
  }

  /** The month's invoice: lines per account and product, and the grand total. */
  public Map<String, Object> invoices(YearMonth month) {
    Instant start = month.atDay(1).atStartOfDay(ZoneOffset.UTC).toInstant();
    record Month(
        String account,
        JobType product,
        String plan,
        boolean adjustment,
        long billableTokens,
        long billableImages,
        long detectionImages,
        BigDecimal amount) {}
    List<Month> rows =
        jdbi.withHandle(
            h ->
                h.createQuery(
                        "SELECT account_id, product, plan, adjustment, billable_tokens,"
                            + " billable_images, detection_images,"
                            + " payg_amount + overage_amount + detection_amount AS amount"
                            + " FROM usage_rollups WHERE period = 'month' AND period_start = :start")
                    .bind("start", start)
                    .map(
                        (rs, ctx) ->
                            new Month(
                                rs.getString("account_id"),
                                JobType.fromWire(rs.getString("product")),
                                rs.getString("plan"),
                                rs.getBoolean("adjustment"),
                                rs.getLong("billable_tokens"),
                                rs.getLong("billable_images"),
                                rs.getLong("detection_images"),
                                rs.getBigDecimal("amount")))
                    .list());
    // One month, one plan: the schedule's plan for the month (what GET plan says), whatever plan
    // the month's rollup was created with (a change dated this month reaches metering after some
    // usage). Dedicated plans owe their fee even in a month without usage; an account closed
    // before the month began owes nothing for it (the month it closed in is billed in full).
    Map<String, String> scheduled = new TreeMap<>();
    Set<String> closedBefore = new java.util.HashSet<>();
    jdbi.useHandle(
        h -> {
          h.createQuery(
                  "SELECT DISTINCT ON (account_id, product) account_id, product, plan"
                      + " FROM account_plans WHERE effective_from <= :day"
                      + " ORDER BY account_id, product, effective_from DESC")
              .bind("day", month.atDay(1))
              .map(
                  (rs, ctx) ->
                      Map.entry(
                          rs.getString("account_id") + "|" + rs.getString("product"),
                          rs.getString("plan")))
              .forEach(e -> scheduled.put(e.getKey(), e.getValue()));
          h.createQuery("SELECT id FROM accounts WHERE deleted_at < :start")
              .bind("start", start)
              .mapTo(String.class)
              .forEach(closedBefore::add);
        });
    Map<String, Map<String, Object>> lines = new TreeMap<>();
    Map<String, long[]> units = new TreeMap<>(); // billable, detection
    Map<String, String> plans = new TreeMap<>();
    scheduled.forEach(
        (key, plan) -> {
          if (plan.equals("dedicated") && !closedBefore.contains(key.split("\\|")[0])) {
            plans.put(key, plan);
          }
        });
    Map<String, long[]> adjUnits = new TreeMap<>();
    Map<String, BigDecimal> adjAmounts = new TreeMap<>();
    for (Month m : rows) {
      String key = m.account() + "|" + m.product().wire();
      long u = m.product() == JobType.TEXT ? m.billableTokens() : m.billableImages();
      if (m.adjustment()) {
        adjUnits.computeIfAbsent(key, k -> new long[1])[0] += u;
        adjAmounts.merge(key, m.amount(), BigDecimal::add);
      } else {
        units.put(key, new long[] {u, m.detectionImages()});
      }
      // After closing, only late usage (adjustments) is billed: no fee.
      plans.put(
          key, closedBefore.contains(m.account()) ? "payg" : scheduled.getOrDefault(key, "payg"));
    }
    BigDecimal grand = BigDecimal.ZERO.setScale(2);
    for (String key : plans.keySet()) {
      String[] parts = key.split("\\|");
      JobType product = JobType.fromWire(parts[1]);
      AccountPlan.PlanKind plan =
          AccountPlan.PlanKind.valueOf(plans.get(key).toUpperCase(Locale.ROOT));
      long[] u = units.getOrDefault(key, new long[2]);
      Billing.InvoiceLine line = Billing.invoiceLine(prices, product, plan, u[0], u[1]);
      BigDecimal adjustment = Billing.toCents(adjAmounts.getOrDefault(key, BigDecimal.ZERO));
      BigDecimal total = line.total().add(adjustment);
      Map<String, Object> l = new LinkedHashMap<>();
      l.put("account_id", parts[0]);
      l.put("month", month.toString());
      l.put("product", product.wire());
      l.put("plan", plan.name().toLowerCase(Locale.ROOT));
      l.put("fee_usd", line.fee().toPlainString());
      l.put("included_units", line.includedUnits());
      l.put("billable_units", line.billableUnits());
      l.put("overage_units", line.overageUnits());
      l.put("usage_usd", line.usageAmount().toPlainString());
      l.put("detection_usd", line.detectionAmount().toPlainString());
      l.put("adjustment_units", adjUnits.getOrDefault(key, new long[1])[0]);
      l.put("adjustment_usd", adjustment.toPlainString());
      l.put("total_usd", total.toPlainString());
      lines.put(key, l);
      grand = grand.add(total);
    }
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("month", month.toString());
    out.put("lines", new ArrayList<>(lines.values()));
    out.put("total_usd", grand.toPlainString());
    return out;
  }

  /**
   * Billed units per account and product for the month from the job records (succeeded jobs, by
   * completion time, with the per-request minimum) against the metering month rollups.
   */
  public Map<String, Object> reconciliation(YearMonth month) {
    Instant start = month.atDay(1).atStartOfDay(ZoneOffset.UTC).toInstant();
    Instant end = month.plusMonths(1).atDay(1).atStartOfDay(ZoneOffset.UTC).toInstant();
    Map<String, long[]> byKey = new TreeMap<>(); // jobs units, rollup units
    jdbi.useTransaction(
        h -> {
          // The independent path: each succeeded job priced by the pure rule (BillableUnits), not
          // the rule restated in SQL; streamed in a cursor (a transaction) 10,000 rows at a time.
          h.createQuery(
                  "SELECT account_id, type, input_tokens, output_tokens, images FROM jobs"
                      + " WHERE status = 'succeeded' AND completed_at >= :start"
                      + " AND completed_at < :end")
              .bind("start", start)
              .bind("end", end)
              .setFetchSize(10_000)
              .map(
                  (rs, ctx) ->
                      Map.entry(
                          rs.getString(1) + "|" + rs.getString(2),
                          BillableUnits.units(
                              JobType.fromWire(rs.getString(2)),
                              rs.getLong(3),
                              rs.getLong(4),
                              rs.getLong(5))))
              .forEach(e -> byKey.computeIfAbsent(e.getKey(), k -> new long[2])[0] += e.getValue());
          h.createQuery(
                  "SELECT account_id, product, billable_tokens, billable_images FROM usage_rollups"
                      + " WHERE period = 'month' AND period_start = :start AND NOT adjustment")
              .bind("start", start)
              .map(
                  (rs, ctx) ->
                      Map.entry(
                          rs.getString(1) + "|" + rs.getString(2),
                          rs.getString(2).equals("text") ? rs.getLong(3) : rs.getLong(4)))
              .forEach(e -> byKey.computeIfAbsent(e.getKey(), k -> new long[2])[1] = e.getValue());
        });
    List<Map<String, Object>> rows = new ArrayList<>();
    long differences = 0;
    for (var e : byKey.entrySet()) {
      String[] parts = e.getKey().split("\\|");
      long diff = e.getValue()[1] - e.getValue()[0];
      differences += diff == 0 ? 0 : 1;
      Map<String, Object> r = new LinkedHashMap<>();
      r.put("account_id", parts[0]);
      r.put("product", parts[1]);
      r.put("jobs_billable_units", e.getValue()[0]);
      r.put("metered_billable_units", e.getValue()[1]);
      r.put("difference", diff);
      rows.add(r);
    }
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("month", month.toString());
    out.put("rows", rows);
    out.put("mismatched_rows", differences);
    out.put("matches", differences == 0);
    return out;
  }

  /** RFC 4180: a header row, CRLF line ends, fields quoted when they hold , " CR or LF. */
  public static String csv(List<String> columns, List<Map<String, Object>> rows) {
    StringBuilder b = new StringBuilder();
    b.append(String.join(",", columns.stream().map(BillingService::field).toList())).append("\r\n");
    for (Map<String, Object> r : rows) {
      List<String> cells = new ArrayList<>();
      for (String c : columns) {
        Object v = r.get(c);
        cells.add(field(v == null ? "" : String.valueOf(v)));
      }
      b.append(String.join(",", cells)).append("\r\n");
    }
    return b.toString();
  }

  static String field(String s) {
    if (s.indexOf(',') >= 0
        || s.indexOf('"') >= 0
        || s.indexOf('\r') >= 0
        || s.indexOf('\n') >= 0) {
      return "\"" + s.replace("\"", "\"\"") + "\"";
    }
    return s;
  }
}
