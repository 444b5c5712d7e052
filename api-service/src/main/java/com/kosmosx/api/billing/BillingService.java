package com.kosmosx.api.billing;

import com.kosmosx.api.errors.ApiProblem;
import com.kosmosx.contracts.PriceList;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.time.Clock;
import java.time.Instant;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jdbi.v3.core.Jdbi;

/**
 * Usage reports, invoices and reconciliation, read from the metering rollups in PostgreSQL.
 *
 * <p>Invoices ({@link Invoices}): one line per account and product for a calendar month (UTC),
 * under the plan in force that month; a closed month is frozen and its later usage is billed as an
 * adjustment on the next open month. Reconciliation ({@link Reconciliation}) checks units and
 * amounts on three independent paths. Every money figure is rounded once, half-up to the cent, on
 * its line ({@link com.kosmosx.contracts.Billing}).
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
  private final Invoices invoices;
  private final Reconciliation reconciliation;
  private final Revenue revenue;

  public BillingService(Jdbi jdbi, PriceList prices) {
    this(jdbi, prices, Clock.systemUTC());
  }

  public BillingService(Jdbi jdbi, PriceList prices, Clock clock) {
    this.jdbi = jdbi;
    this.invoices = new Invoices(jdbi, prices, clock);
    this.reconciliation = new Reconciliation(jdbi, prices, invoices);
    this.revenue = new Revenue(jdbi, prices, invoices);
  }

  /** Revenue by product per day or month, with the period's top accounts (see {@link Revenue}). */
  public Map<String, Object> revenue(LocalDate from, LocalDate to, String granularity) {
    return revenue.report(from, to, granularity);
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

  /** A {@code ?month=} query parameter. */
  public static YearMonth month(String value) {
    return month(value, "Query parameter");
  }

  /**
   * A month, YYYY-MM; {@code where} names it in the problem's detail ("Query parameter" or "Path
   * segment"), so a client is told where its mistake is.
   */
  public static YearMonth month(String value, String where) {
    if (value == null) {
      throw ApiProblem.validation(where + " 'month' is required (YYYY-MM).", "month");
    }
    YearMonth month;
    try {
      month = YearMonth.parse(value);
    } catch (DateTimeParseException e) {
      throw ApiProblem.validation(where + " 'month' is YYYY-MM.", "month");
    }
    if (month.getYear() < MIN_YEAR || month.getYear() > MAX_YEAR) {
      throw ApiProblem.validation(
          where + " 'month' is between " + MIN_YEAR + "-01 and " + MAX_YEAR + "-12.", "month");
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

  /** The month's invoice: lines per account and product, the total, open or closed. */
  public Map<String, Object> invoices(YearMonth month) {
    return invoices.invoice(month);
  }

  /** Freezes a month's invoice (see {@link Invoices#close}). */
  public Map<String, Object> close(YearMonth month, String closedBy) {
    return invoices.close(month, closedBy);
  }

  /** Units and amounts of a month on three paths (see {@link Reconciliation}). */
  public Map<String, Object> reconciliation(YearMonth month) {
    return reconciliation.month(month);
  }

  public Invoices book() {
    return invoices;
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
