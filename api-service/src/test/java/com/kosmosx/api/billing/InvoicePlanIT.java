package com.kosmosx.api.billing;

import static org.assertj.core.api.Assertions.assertThat;

import com.kosmosx.api.ApiApplication;
import com.kosmosx.contracts.AccountPlan;
import com.kosmosx.contracts.Billing;
import com.kosmosx.contracts.JobType;
import com.kosmosx.contracts.PriceList;
import com.kosmosx.platform.SharedPlatform;
import java.time.YearMonth;
import java.util.List;
import java.util.Map;
import org.jdbi.v3.core.Jdbi;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * One month, one plan: the invoice bills each account and product under the plan its schedule gives
 * for that month, whatever plan the month's rollup was created with; a closed account pays the fee
 * of the month it closed in, and nothing after.
 */
class InvoicePlanIT {
  private static Jdbi jdbi;
  private static BillingService billing;

  @BeforeAll
  static void start() throws Exception {
    PGSimpleDataSource ds = new PGSimpleDataSource();
    ds.setURL(SharedPlatform.freshDatabase("invoice_plan"));
    ds.setUser("postgres");
    ApiApplication.migrate(ds);
    jdbi = Jdbi.create(ds);
    billing = new BillingService(jdbi, PriceList.SEED);
  }

  private static void account(String id, String deletedAt) {
    jdbi.useHandle(
        h ->
            h.execute(
                "INSERT INTO accounts (id, username, email, password_hash, webhook_secret,"
                    + " created_at, deleted_at) VALUES (?, ?, 'a@example.com', 'x', 'whsec_x',"
                    + " '2026-01-01', CAST(? AS timestamptz))",
                id,
                id,
                deletedAt));
  }

  private static void plan(String account, String product, String plan, String from) {
    jdbi.useHandle(
        h ->
            h.execute(
                "INSERT INTO account_plans (account_id, product, plan, lane, effective_from,"
                    + " created_at) VALUES (?, ?, ?, ?, CAST(? AS date), now())",
                account,
                product,
                plan,
                plan.equals("dedicated") ? "dedicated" : null,
                from));
  }

  /** A month rollup as metering wrote it, under the plan it knew then. */
  private static void monthRollup(String account, String plan, long billableTokens) {
    jdbi.useHandle(
        h ->
            h.execute(
                "INSERT INTO usage_rollups (rollup_key, account_id, product, period,"
                    + " period_start, plan, adjustment, requests, input_tokens, output_tokens,"
                    + " billable_tokens, images, billable_images, detection_images, payg_amount,"
                    + " detection_amount, dedicated_units, allowance_used, overage_units,"
                    + " overage_amount, updated_at) VALUES (?, ?, 'text', 'month',"
                    + " '2026-12-01T00:00:00Z', ?, false, 10, 0, 0, ?, 0, 0, 0, 0, 0, ?, ?, 0, 0,"
                    + " now())",
                account + "|text|month|2026-12",
                account,
                plan,
                billableTokens,
                plan.equals("dedicated") ? billableTokens : 0,
                plan.equals("dedicated") ? billableTokens : 0));
  }

  @Test
  @SuppressWarnings("unchecked")
  void reconciliationPricesEachJobByThePureRule() {
    account("acc_recon", null);
    // (input, output, images) per job; units by BillableUnits: 100, 150 (text), 1, 1, 3 (image)
    long[][] text = {{20, 10, 0}, {100, 50, 0}};
    Long[][] image = {{7L, 0L, 0L}, {7L, 0L, null}, {7L, 0L, 3L}};
    jdbi.useHandle(
        h -> {
          int i = 0;
          for (long[] t : text) {
            h.execute(
                "INSERT INTO jobs (id, account_id, type, status, lane, created_at, completed_at,"
                    + " input_tokens, output_tokens, images) VALUES (?, 'acc_recon', 'text',"
                    + " 'succeeded', 'shared', '2026-11-03', '2026-11-03', ?, ?, NULL)",
                "job_recon_t" + i++,
                t[0],
                t[1]);
          }
          for (Long[] m : image) {
            h.execute(
                "INSERT INTO jobs (id, account_id, type, status, lane, created_at, completed_at,"
                    + " input_tokens, output_tokens, images) VALUES (?, 'acc_recon', 'image',"
                    + " 'succeeded', 'shared', '2026-11-04', '2026-11-04', ?, ?, ?)",
                "job_recon_i" + i++,
                m[0],
                m[1],
                m[2]);
          }
        });
    long textUnits = 0;
    for (long[] t : text) {
      textUnits += com.kosmosx.contracts.BillableUnits.units(JobType.TEXT, t[0], t[1], 0);
    }
    long imageUnits = 0;
    for (Long[] m : image) {
      imageUnits +=
          com.kosmosx.contracts.BillableUnits.units(
              JobType.IMAGE, m[0], m[1], m[2] == null ? 0 : m[2]);
    }
    assertThat(textUnits).isEqualTo(250);
    assertThat(imageUnits).isEqualTo(5);
    List<Map<String, Object>> rows =
        (List<Map<String, Object>>) billing.reconciliation(YearMonth.of(2026, 11)).get("rows");
    Map<String, Long> jobsUnits = new java.util.HashMap<>();
    rows.stream()
        .filter(r -> "acc_recon".equals(r.get("account_id")))
        .forEach(
            r -> jobsUnits.put((String) r.get("product"), (Long) r.get("jobs_billable_units")));
    assertThat(jobsUnits).containsEntry("text", textUnits).containsEntry("image", imageUnits);
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> line(YearMonth month, String account) {
    List<Map<String, Object>> lines =
        (List<Map<String, Object>>) billing.invoices(month).get("lines");
    return lines.stream().filter(l -> account.equals(l.get("account_id"))).findFirst().orElse(null);
  }

  @Test
  void aPlanChangedToPayAsYouGoThisMonthIsBilledPayAsYouGoNotTheOldFee() {
    account("acc_switched", null);
    plan("acc_switched", "text", "dedicated", "2026-10-01");
    plan("acc_switched", "text", "payg", "2026-12-01");
    // Usage arrived before metering learnt of the change: its rollup says dedicated.
    monthRollup("acc_switched", "dedicated", 250_000);

    Map<String, Object> l = line(YearMonth.of(2026, 12), "acc_switched");
    Billing.InvoiceLine expected =
        Billing.invoiceLine(PriceList.SEED, JobType.TEXT, AccountPlan.PlanKind.PAYG, 250_000, 0);
    assertThat(l.get("plan")).isEqualTo("payg");
    assertThat(l.get("fee_usd")).isEqualTo("0.00");
    assertThat(l.get("total_usd")).isEqualTo(expected.total().toPlainString());
    // The month before is still dedicated: its fee stands.
    assertThat(line(YearMonth.of(2026, 11), "acc_switched").get("plan")).isEqualTo("dedicated");
  }

  @Test
  void aClosedAccountPaysTheFeeOfTheMonthItClosedInAndNothingAfter() {
    account("acc_closed", "2026-10-15T12:00:00Z");
    plan("acc_closed", "image", "dedicated", "2026-09-01");

    Map<String, Object> october = line(YearMonth.of(2026, 10), "acc_closed");
    assertThat(october).as("the month of closing").isNotNull();
    assertThat(october.get("fee_usd"))
        .isEqualTo(
            Billing.toCents(PriceList.SEED.product(JobType.IMAGE).dedicatedMonthlyFee())
                .toPlainString());
    assertThat(line(YearMonth.of(2026, 11), "acc_closed")).as("after closing").isNull();
    assertThat(line(YearMonth.of(2027, 3), "acc_closed")).as("months later").isNull();
  }
}
