package com.kosmosx.api.billing;

import static org.assertj.core.api.Assertions.assertThat;

import com.kosmosx.api.ApiApplication;
import com.kosmosx.api.errors.ApiProblem;
import com.kosmosx.contracts.AccountPlan.PlanKind;
import com.kosmosx.contracts.Billing;
import com.kosmosx.contracts.JobType;
import com.kosmosx.contracts.PriceList;
import com.kosmosx.contracts.UsageEvent;
import com.kosmosx.contracts.UsageRollup;
import com.kosmosx.platform.SharedPlatform;
import java.math.BigDecimal;
import java.time.Clock;
import java.time.Instant;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.jdbi.v3.core.Jdbi;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * Closing a month: its invoice is frozen, its later usage is billed as an adjustment on the next
 * open month, priced at the margin, so that everything billed for a month equals the pure rule
 * applied to all of its usage, to the cent. Months close in order, once, after they end.
 */
class InvoiceCloseIT {
  private static final YearMonth OCT = YearMonth.of(2026, 10);
  private static final YearMonth NOV = YearMonth.of(2026, 11);
  private static final YearMonth DEC = YearMonth.of(2026, 12);
  private static Jdbi jdbi;
  private static Invoices book;
  private static final Map<String, UsageRollup> rollups = new HashMap<>();
  private static final AtomicInteger jobs = new AtomicInteger();

  @BeforeAll
  static void start() throws Exception {
    PGSimpleDataSource ds = new PGSimpleDataSource();
    ds.setURL(SharedPlatform.freshDatabase("invoice_close"));
    ds.setUser("postgres");
    ApiApplication.migrate(ds);
    jdbi = Jdbi.create(ds);
    book =
        new Invoices(
            jdbi,
            PriceList.SEED,
            Clock.fixed(Instant.parse("2027-01-10T00:00:00Z"), ZoneOffset.UTC));
    account("acc_p");
    account("acc_d");
    jdbi.useHandle(
        h ->
            h.execute(
                "INSERT INTO account_plans (account_id, product, plan, lane, effective_from,"
                    + " created_at) VALUES ('acc_d', 'text', 'dedicated', 'dedicated',"
                    + " '2026-10-01', now())"));
  }

  private static void account(String id) {
    jdbi.useHandle(
        h ->
            h.execute(
                "INSERT INTO accounts (id, username, email, password_hash, webhook_secret,"
                    + " created_at) VALUES (?, ?, 'a@example.com', 'x', 'whsec_x', '2026-01-01')",
                id,
                id));
  }

  /** One text job of {@code tokens} in {@code month}, metered the way metering does. */
  private static void usage(String account, YearMonth month, int tokens, PlanKind plan) {
    Instant at = month.atDay(3).atStartOfDay(ZoneOffset.UTC).toInstant();
    Instant start = Invoices.start(month);
    String key = UsageRollup.key(account, JobType.TEXT, UsageRollup.Period.MONTH, start);
    UsageRollup now =
        rollups
            .computeIfAbsent(
                key,
                k ->
                    UsageRollup.empty(
                        account, JobType.TEXT, UsageRollup.Period.MONTH, start, plan, false))
            .add(
                new UsageEvent(
                    "job_" + jobs.incrementAndGet(),
                    account,
                    JobType.TEXT,
                    tokens,
                    0,
                    0,
                    false,
                    at),
                PriceList.SEED);
    rollups.put(key, now);
    jdbi.useHandle(h -> RollupSink.upsert(h, List.of(now), Instant.now()));
  }

  private static Map<String, Object> line(YearMonth month, String account) {
    @SuppressWarnings("unchecked")
    List<Map<String, Object>> lines = (List<Map<String, Object>>) book.invoice(month).get("lines");
    return lines.stream().filter(l -> l.get("account_id").equals(account)).findFirst().orElse(null);
  }

  private static String code(Runnable r) {
    try {
      r.run();
      return "none";
    } catch (ApiProblem p) {
      return p.status() + " " + p.code();
    }
  }

  @Test
  void aClosedMonthIsFrozenAndItsLateUsageIsBilledAtTheMarginOnTheNextOpenMonth() throws Exception {
    usage("acc_p", OCT, 1_000, PlanKind.PAYG);
    usage("acc_d", OCT, 10_000_000, PlanKind.DEDICATED);

    assertThat(code(() -> book.close(NOV, "k"))).isEqualTo("409 close_out_of_order");
    assertThat(code(() -> book.close(YearMonth.of(2027, 1), "k"))).isEqualTo("409 month_not_ended");
    Map<String, Object> october = book.close(OCT, "key_admin");
    assertThat(october.get("status")).isEqualTo("closed");
    assertThat(october.get("total_usd")).isEqualTo("150000.20");
    assertThat(code(() -> book.close(OCT, "k"))).isEqualTo("409 month_closed");

    // Late October usage: 500 more pay-as-you-go tokens, and 45M dedicated tokens that take the
    // month past its 50M allowance by 5M.
    usage("acc_p", OCT, 500, PlanKind.PAYG);
    usage("acc_d", OCT, 45_000_000, PlanKind.DEDICATED);
    assertThat(book.invoice(OCT)).isEqualTo(october); // frozen

    Map<String, Object> p = line(NOV, "acc_p");
    assertThat(p.get("adjustment_units")).isEqualTo(500L);
    assertThat(p.get("adjustment_usd")).isEqualTo("0.10");
    assertThat(p.get("fee_usd")).isEqualTo("0.00");
    Map<String, Object> d = line(NOV, "acc_d");
    assertThat(d.get("fee_usd")).isEqualTo("150000.00"); // November's own fee
    assertThat(d.get("adjustment_units")).isEqualTo(45_000_000L);
    assertThat(d.get("adjustment_usd")).isEqualTo("1000.00"); // only the 5M past the allowance
    assertThat(d.get("total_usd")).isEqualTo("151000.00");

    book.close(NOV, "key_admin");
    // Later still: October's usage grows again; November is frozen, so December bills it.
    usage("acc_p", OCT, 100, PlanKind.PAYG);
    usage("acc_p", DEC, 2_000, PlanKind.PAYG);
    assertThat(line(NOV, "acc_p").get("adjustment_usd")).isEqualTo("0.10");
    assertThat(line(DEC, "acc_p").get("adjustment_usd")).isEqualTo("0.02");
    assertThat(line(DEC, "acc_p").get("total_usd")).isEqualTo("0.42");

    // Everything billed for October, on every invoice, is the pure rule on all of its usage.
    for (String account : List.of("acc_p", "acc_d")) {
      PlanKind plan = account.equals("acc_d") ? PlanKind.DEDICATED : PlanKind.PAYG;
      long units =
          rollups
              .get(
                  UsageRollup.key(
                      account, JobType.TEXT, UsageRollup.Period.MONTH, Invoices.start(OCT)))
              .billableTokens();
      BigDecimal billed =
          book.billedFor(OCT).stream()
              .filter(i -> i.account().equals(account))
              .map(Invoices.Item::total)
              .reduce(BigDecimal.ZERO, BigDecimal::add);
      assertThat(billed)
          .isEqualByComparingTo(
              Billing.invoiceLine(PriceList.SEED, JobType.TEXT, plan, units, 0).total());
    }

    // Two admins close December at once: exactly one wins, the other is told it is closed.
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      Callable<String> close = () -> code(() -> book.close(DEC, "key_admin"));
      Future<String> a = pool.submit(close);
      Future<String> b = pool.submit(close);
      assertThat(List.of(a.get(), b.get())).containsExactlyInAnyOrder("none", "409 month_closed");
    } finally {
      pool.shutdownNow();
    }
    long frozen =
        jdbi.withHandle(
            h ->
                h.createQuery("SELECT count(*) FROM invoice_items WHERE month = '2026-12-01'")
                    .mapTo(Long.class)
                    .one());
    assertThat(frozen)
        .as("December frozen once: acc_p's own item and October adjustment, acc_d's fee")
        .isEqualTo(3L);
  }
}
