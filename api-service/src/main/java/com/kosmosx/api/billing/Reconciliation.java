package com.kosmosx.api.billing;

import com.kosmosx.contracts.AccountPlan.PlanKind;
import com.kosmosx.contracts.BillableUnits;
import com.kosmosx.contracts.Billing;
import com.kosmosx.contracts.JobType;
import com.kosmosx.contracts.PriceList;
import java.math.BigDecimal;
import java.time.Instant;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;
import org.jdbi.v3.core.Jdbi;

/**
 * A month's money checked three ways, per account and product, adjustments included:
 *
 * <ol>
 *   <li><b>expected</b>, the independent path: the job records (every billed job completed in the
 *       month, by {@link BillableUnits#billed}) priced in Java by the pure rule under the month's
 *       plan from the schedule;
 *   <li><b>metered</b>: metering's month rollup, its plan, units and exact amount;
 *   <li><b>invoiced</b>: every invoice item billed for the month's usage, its own item (frozen or
 *       live) and all adjustments for it on later invoices.
 * </ol>
 *
 * A row matches when the units and detection images agree on all three paths, metering's plan is
 * the schedule's, metering's exact amount equals the pure rule's to the last decimal, and what the
 * invoices bill for the month equals the pure rule's invoice line to the cent. Each row names what
 * differs, so a wrong price in metering's configuration flags exactly the rows it priced.
 */
public final class Reconciliation {
  private final Jdbi jdbi;
  private final PriceList prices;
  private final Invoices invoices;

  public Reconciliation(Jdbi jdbi, PriceList prices, Invoices invoices) {
    this.jdbi = jdbi;
    this.prices = prices;
    this.invoices = invoices;
  }

  private static final class Row {
    long jobsUnits;
    long jobsDetection;
    Long meteredUnits;
    long meteredDetection;
    PlanKind meteredPlan;
    BigDecimal meteredAmount = BigDecimal.ZERO;
    long invoicedUnits;
    long invoicedDetection;
    PlanKind invoicedPlan;
    BigDecimal invoiced = BigDecimal.ZERO;
    boolean onInvoice;
  }

  public Map<String, Object> month(YearMonth month) {
    Instant start = Invoices.start(month);
    Instant end = Invoices.start(month.plusMonths(1));
    Map<String, Row> rows = new HashMap<>();
    Map<String, PlanKind> plans = new HashMap<>();
    jdbi.useTransaction(
        h -> {
          plans.putAll(Invoices.plans(h, month));
          // The independent path: each billed job by the pure rule (BillableUnits), streamed in a
          // cursor 10,000 rows at a time.
          h.createQuery(
                  "SELECT account_id, type, status, input_tokens, output_tokens, images,"
                      + " input->>'detect_objects' FROM jobs"
                      + " WHERE status IN ('succeeded', 'canceled') AND completed_at >= :start"
                      + " AND completed_at < :end")
              .bind("start", start)
              .bind("end", end)
              .setFetchSize(10_000)
              .map(
                  (rs, ctx) -> {
                    JobType type = JobType.fromWire(rs.getString(2));
                    boolean measured = rs.getObject(4) != null;
                    if (!BillableUnits.billed(rs.getString(3), measured)) {
                      return null;
                    }
                    Row r =
                        rows.computeIfAbsent(rs.getString(1) + "|" + type.wire(), k -> new Row());
                    r.jobsUnits +=
                        BillableUnits.units(type, rs.getLong(4), rs.getLong(5), rs.getLong(6));
                    String detect = rs.getString(7);
                    if (BillableUnits.detection(
                        type, detect == null ? null : Boolean.valueOf(detect))) {
                      r.jobsDetection++;
                    }
                    return r;
                  })
              .forEach(r -> {});
          h.createQuery(
                  "SELECT account_id, product, plan, billable_tokens, billable_images,"
                      + " detection_images, payg_amount + overage_amount + detection_amount"
                      + " FROM usage_rollups WHERE period = 'month' AND period_start = :start")
              .bind("start", start)
              .map(
                  (rs, ctx) -> {
                    JobType type = JobType.fromWire(rs.getString(2));
                    Row r =
                        rows.computeIfAbsent(rs.getString(1) + "|" + type.wire(), k -> new Row());
                    long units = type == JobType.TEXT ? rs.getLong(4) : rs.getLong(5);
                    r.meteredUnits = (r.meteredUnits == null ? 0 : r.meteredUnits) + units;
                    r.meteredDetection += rs.getLong(6);
                    r.meteredPlan = PlanKind.valueOf(rs.getString(3).toUpperCase(Locale.ROOT));
                    r.meteredAmount = r.meteredAmount.add(rs.getBigDecimal(7));
                    return r;
                  })
              .forEach(r -> {});
        });
    for (Invoices.Item i : invoices.billedFor(month)) {
      Row r = rows.computeIfAbsent(i.key(), k -> new Row());
      r.onInvoice = true;
      r.invoicedUnits += i.units();
      r.invoicedDetection += i.detectionImages();
      r.invoiced = r.invoiced.add(i.total());
      if (!i.adjustment()) {
        r.invoicedPlan = i.plan();
      }
    }
    List<Map<String, Object>> out = new ArrayList<>();
    long mismatched = 0;
    for (String key : new TreeSet<>(rows.keySet())) {
      Row r = rows.get(key);
      String account = key.substring(0, key.indexOf('|'));
      JobType product = JobType.fromWire(key.substring(key.indexOf('|') + 1));
      PlanKind plan = plans.getOrDefault(key, PlanKind.PAYG);
      Billing.InvoiceLine expected =
          Billing.invoiceLine(prices, product, plan, r.jobsUnits, r.jobsDetection);
      BigDecimal expectedExact =
          Billing.monthUsageAmount(prices, product, plan, r.jobsUnits, r.jobsDetection);
      long metered = r.meteredUnits == null ? 0 : r.meteredUnits;
      List<String> differences = new ArrayList<>();
      if (metered != r.jobsUnits
          || r.invoicedUnits != r.jobsUnits
          || r.meteredDetection != r.jobsDetection
          || r.invoicedDetection != r.jobsDetection) {
        differences.add("units");
      }
      if ((r.meteredPlan != null && r.meteredPlan != plan)
          || (r.invoicedPlan != null && r.invoicedPlan != plan)) {
        differences.add("plan");
      }
      if (r.meteredAmount.compareTo(expectedExact) != 0) {
        differences.add("metered_amount");
      }
      if (r.invoiced.compareTo(expected.total()) != 0) {
        differences.add("invoiced_amount");
      }
      mismatched += differences.isEmpty() ? 0 : 1;
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("account_id", account);
      m.put("product", product.wire());
      m.put("plan", plan.name().toLowerCase(Locale.ROOT));
      m.put("jobs_billable_units", r.jobsUnits);
      m.put("metered_billable_units", metered);
      m.put("invoiced_billable_units", r.invoicedUnits);
      m.put("jobs_detection_images", r.jobsDetection);
      m.put("metered_detection_images", r.meteredDetection);
      m.put("invoiced_detection_images", r.invoicedDetection);
      m.put("expected_usage_usd", expectedExact.stripTrailingZeros().toPlainString());
      m.put("metered_usage_usd", r.meteredAmount.stripTrailingZeros().toPlainString());
      m.put("expected_invoice_usd", expected.total().toPlainString());
      m.put("invoiced_usd", r.invoiced.setScale(2).toPlainString());
      m.put("difference", metered - r.jobsUnits);
      m.put("differences", differences);
      m.put("matches", differences.isEmpty());
      out.add(m);
    }
    Map<String, Object> result = new LinkedHashMap<>();
    result.put("month", month.toString());
    result.put("rows", out);
    result.put("mismatched_rows", mismatched);
    result.put("matches", mismatched == 0);
    return result;
  }
}
