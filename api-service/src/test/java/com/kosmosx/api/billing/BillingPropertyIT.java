package com.kosmosx.api.billing;

import static org.assertj.core.api.Assertions.assertThat;

import com.kosmosx.api.ApiApplication;
import com.kosmosx.contracts.AccountPlan;
import com.kosmosx.contracts.AccountPlan.PlanKind;
import com.kosmosx.contracts.BillableUnits;
import com.kosmosx.contracts.Billing;
import com.kosmosx.contracts.JobType;
import com.kosmosx.contracts.JsonSerde;
import com.kosmosx.contracts.PriceList;
import com.kosmosx.contracts.Topics;
import com.kosmosx.contracts.UsageEvent;
import com.kosmosx.contracts.UsageRollup;
import com.kosmosx.metering.core.UsageTopology;
import com.kosmosx.platform.SharedPlatform;
import java.math.BigDecimal;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.jdbi.v3.core.Jdbi;
import org.junit.jupiter.api.Test;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * The billing property: random months of usage through metering's real topology (Kafka Streams'
 * test driver) and the API's rollup sink into PostgreSQL, then invoices and reconciliation.
 *
 * <p>Each case draws accounts on pay-as-you-go and dedicated plans with changes at month starts
 * (recorded before or after usage of that month was metered), text and image jobs (with and without
 * detection), jobs that succeed, fail, are canceled before they run or while they run, usage events
 * that arrive late (up to forty days) and twice, an account closed mid-quarter, and months closed
 * while usage still arrives. Whatever the draw:
 *
 * <ul>
 *   <li>everything the invoices bill for a month (its own items and every later adjustment) equals
 *       the pure rule applied to that month's job rows, to the cent;
 *   <li>reconciliation reports no difference in units, plans or amounts.
 * </ul>
 *
 * Then the same usage is metered again with one wrong price in metering's configuration, and
 * reconciliation flags exactly the rows that price touched, as metered amounts, and nothing else.
 * The same three cases run every time; {@code -Dbilling.seed=random -Dbilling.cases=N} explores,
 * and a failing case prints its seed to replay.
 */
class BillingPropertyIT {
  /** Small allowances and a detection surcharge, so every rule is exercised by few jobs. */
  static final PriceList PRICES =
      new PriceList(
          new PriceList.Product(
              new BigDecimal("0.20"), 1_000, new BigDecimal("100"), 3_000, new BigDecimal("0.30")),
          new PriceList.Product(
              new BigDecimal("0.50"), 1, new BigDecimal("50"), 4, new BigDecimal("0.45")),
          new BigDecimal("0.05"));

  /** The same prices except text pay-as-you-go: the deliberate error in metering's config. */
  static final PriceList WRONG =
      new PriceList(
          new PriceList.Product(
              new BigDecimal("0.21"), 1_000, new BigDecimal("100"), 3_000, new BigDecimal("0.30")),
          PRICES.image(),
          PRICES.detectionSurchargePerImage());

  static final List<YearMonth> MONTHS =
      List.of(YearMonth.of(2026, 10), YearMonth.of(2026, 11), YearMonth.of(2026, 12));
  static final Instant NOW = Instant.parse("2027-01-20T00:00:00Z");

  record Job(
      String id,
      String account,
      JobType type,
      String status,
      Integer in,
      Integer out,
      Integer images,
      Boolean detect,
      Instant completed) {
    boolean billed() {
      return BillableUnits.billed(status, in != null);
    }

    long units() {
      return BillableUnits.units(type, in, out, images == null ? 0 : images);
    }
  }

  /** Something that reaches metering at {@code at}: a usage event or a plan schedule. */
  record Arrival(Instant at, UsageEvent usage, AccountPlan plan) {}

  @Test
  void invoicesEqualThePureRuleOnTheJobRowsAndReconciliationFindsNoDifference() throws Exception {
    // CI runs the same cases every time (a property that fails only on some seeds must not make
    // the suite flaky); -Dbilling.seed=random -Dbilling.cases=200 explores, and a failure prints
    // the seed to replay with -Dbilling.seed=N -Dbilling.cases=1.
    String from = System.getProperty("billing.seed", "20261202");
    int cases = Integer.getInteger("billing.cases", 3);
    long first = from.equals("random") ? new Random().nextLong() : Long.parseLong(from);
    for (int c = 0; c < cases; c++) {
      long seed = first + c;
      try {
        runCase(seed);
      } catch (AssertionError | RuntimeException e) {
        throw new AssertionError("billing property failed for -Dbilling.seed=" + seed, e);
      }
    }
  }

  private void runCase(long seed) throws Exception {
    Random rnd = new Random(seed);
    PGSimpleDataSource ds = new PGSimpleDataSource();
    ds.setURL(SharedPlatform.freshDatabase("billing_prop"));
    ds.setUser("postgres");
    ApiApplication.migrate(ds);
    Jdbi jdbi = Jdbi.create(ds);
    BillingService billing = new BillingService(jdbi, PRICES, Clock.fixed(NOW, ZoneOffset.UTC));

    // Accounts, one of them closed on a random day of the quarter.
    int accountCount = 3 + rnd.nextInt(3);
    List<String> accounts = new ArrayList<>();
    Map<String, Instant> closedAt = new HashMap<>();
    for (int a = 0; a < accountCount; a++) {
      String id = "acc_p" + a;
      accounts.add(id);
      Instant closed =
          a == 0 && rnd.nextBoolean()
              ? MONTHS
                  .get(0)
                  .atDay(1)
                  .atStartOfDay(ZoneOffset.UTC)
                  .toInstant()
                  .plus(Duration.ofHours(rnd.nextInt(24 * 80)))
              : null;
      if (closed != null) {
        closedAt.put(id, closed);
      }
      jdbi.useHandle(
          h ->
              h.execute(
                  "INSERT INTO accounts (id, username, email, password_hash, webhook_secret,"
                      + " created_at, deleted_at) VALUES (?, ?, 'a@example.com', 'x', 'whsec_x',"
                      + " '2026-01-01', ?)",
                  id,
                  id,
                  closed == null ? null : java.sql.Timestamp.from(closed)));
    }

    // Plan schedules: changes at month starts, each recorded up to 10 days before its month or
    // during it (after some of its usage was metered).
    List<Arrival> arrivals = new ArrayList<>();
    Map<String, List<AccountPlan.Change>> schedules = new HashMap<>();
    List<Object[]> recorded = new ArrayList<>(); // {account, change, recordedAt}
    for (String a : accounts) {
      for (JobType p : JobType.values()) {
        for (YearMonth m : MONTHS) {
          if (rnd.nextInt(3) == 0) {
            PlanKind plan = rnd.nextBoolean() ? PlanKind.DEDICATED : PlanKind.PAYG;
            Instant at =
                m.atDay(1)
                    .atStartOfDay(ZoneOffset.UTC)
                    .toInstant()
                    .plus(Duration.ofHours(rnd.nextInt(24 * 30) - 24 * 10));
            recorded.add(
                new Object[] {
                  a,
                  new AccountPlan.Change(
                      p, plan, plan == PlanKind.DEDICATED ? "dedicated" : null, m.atDay(1)),
                  at
                });
          }
        }
      }
    }
    recorded.sort(Comparator.comparing(r -> (Instant) r[2]));
    for (Object[] r : recorded) {
      String a = (String) r[0];
      AccountPlan.Change change = (AccountPlan.Change) r[1];
      List<AccountPlan.Change> s = schedules.computeIfAbsent(a, k -> new ArrayList<>());
      s.add(change);
      arrivals.add(
          new Arrival(
              (Instant) r[2],
              null,
              new AccountPlan(a, Map.of(), null, (Instant) r[2], new ArrayList<>(s))));
      jdbi.useHandle(
          h ->
              h.execute(
                  "INSERT INTO account_plans (account_id, product, plan, lane, effective_from,"
                      + " created_at) VALUES (?, ?, ?, ?, ?, now())",
                  a,
                  change.product().wire(),
                  change.plan().name().toLowerCase(java.util.Locale.ROOT),
                  change.lane(),
                  change.effectiveFrom()));
    }

    // Jobs and their usage events: late, very late, and published twice.
    List<Job> jobs = new ArrayList<>();
    int jobCount = 30 + rnd.nextInt(50);
    Instant quarterStart = MONTHS.get(0).atDay(1).atStartOfDay(ZoneOffset.UTC).toInstant();
    for (int j = 0; j < jobCount; j++) {
      String account = accounts.get(rnd.nextInt(accounts.size()));
      Instant completed = quarterStart.plusSeconds(rnd.nextInt(92 * 24 * 3600));
      Instant closed = closedAt.get(account);
      if (closed != null && !completed.isBefore(closed)) {
        continue; // a closed account runs no more jobs
      }
      JobType type = rnd.nextInt(3) == 0 ? JobType.IMAGE : JobType.TEXT;
      int draw = rnd.nextInt(20);
      String status =
          draw < 15 ? "succeeded" : draw < 17 ? "canceled" : draw < 18 ? "canceled" : "failed";
      boolean measured = draw < 17; // draw 17: canceled before it ran; failed: never measured
      Integer in = null;
      Integer out = null;
      Integer images = null;
      if (measured) {
        in = 1 + rnd.nextInt(type == JobType.TEXT ? 2_500 : 30);
        out = rnd.nextInt(400);
        images = type == JobType.IMAGE ? 1 : 0;
      }
      Boolean detect =
          type == JobType.IMAGE ? (rnd.nextInt(3) == 0 ? null : rnd.nextBoolean()) : null;
      Job job = new Job("job_p" + j, account, type, status, in, out, images, detect, completed);
      jobs.add(job);
      if (job.billed()) {
        UsageEvent e =
            new UsageEvent(
                job.id(),
                account,
                type,
                in,
                out,
                images,
                BillableUnits.detection(type, detect),
                completed);
        int lateness = rnd.nextInt(10);
        Duration delay =
            lateness < 7
                ? Duration.ofSeconds(1 + rnd.nextInt(60))
                : lateness < 9
                    ? Duration.ofHours(1 + rnd.nextInt(72))
                    : Duration.ofDays(5 + rnd.nextInt(36));
        arrivals.add(new Arrival(completed.plus(delay), e, null));
        if (rnd.nextInt(7) == 0) {
          arrivals.add(new Arrival(completed.plus(delay).plusSeconds(rnd.nextInt(3600)), e, null));
        }
      }
    }
    jdbi.useHandle(
        h -> {
          var batch =
              h.prepareBatch(
                  "INSERT INTO jobs (id, account_id, type, status, lane, input, created_at,"
                      + " started_at, completed_at, input_tokens, output_tokens, images) VALUES"
                      + " (:id, :account, :type, :status, 'shared', CAST(:input AS jsonb),"
                      + " :completed, :completed, :completed, :in, :out, :images)");
          for (Job j : jobs) {
            batch
                .bind("id", j.id())
                .bind("account", j.account())
                .bind("type", j.type().wire())
                .bind("status", j.status())
                .bind(
                    "input", j.detect() == null ? "{}" : "{\"detect_objects\":" + j.detect() + "}")
                .bind("completed", j.completed())
                .bind("in", j.in())
                .bind("out", j.out())
                .bind("images", j.images())
                .add();
          }
          batch.execute();
        });
    arrivals.sort(Comparator.comparing(Arrival::at));

    // Months close (in order) while late usage still arrives.
    List<Instant> closes = new ArrayList<>();
    for (YearMonth m : MONTHS) {
      closes.add(
          m.plusMonths(1)
              .atDay(1)
              .atStartOfDay(ZoneOffset.UTC)
              .toInstant()
              .plus(Duration.ofHours(1 + rnd.nextInt(24 * 6))));
    }
    meter(jdbi, arrivals, PRICES, closes, billing);

    // The oracle: the pure rule on the job rows, per month, account and product.
    for (YearMonth m : MONTHS) {
      Map<String, long[]> units = new TreeMap<>();
      for (Job j : jobs) {
        if (j.billed() && YearMonth.from(j.completed().atZone(ZoneOffset.UTC)).equals(m)) {
          long[] u = units.computeIfAbsent(j.account() + "|" + j.type().wire(), k -> new long[2]);
          u[0] += j.units();
          u[1] += BillableUnits.detection(j.type(), j.detect()) ? 1 : 0;
        }
      }
      Set<String> keys = new TreeSet<>(units.keySet());
      for (String a : accounts) {
        for (JobType p : JobType.values()) {
          if (plan(schedules, closedAt, a, p, m) == PlanKind.DEDICATED) {
            keys.add(a + "|" + p.wire());
          }
        }
      }
      Map<String, BigDecimal> billed = new HashMap<>();
      for (Invoices.Item i : billing.book().billedFor(m)) {
        billed.merge(i.key(), i.total(), BigDecimal::add);
      }
      for (String k : keys) {
        String a = k.substring(0, k.indexOf('|'));
        JobType p = JobType.fromWire(k.substring(k.indexOf('|') + 1));
        long[] u = units.getOrDefault(k, new long[2]);
        BigDecimal expected =
            Billing.invoiceLine(PRICES, p, plan(schedules, closedAt, a, p, m), u[0], u[1]).total();
        assertThat(billed.getOrDefault(k, BigDecimal.ZERO))
            .as("billed for %s in %s (seed %d)", k, m, seed)
            .isEqualByComparingTo(expected);
      }
      assertThat(billed.keySet()).as("nothing else billed for %s", m).isSubsetOf(keys);
      Map<String, Object> rec = billing.reconciliation(m);
      assertThat(rec.get("matches")).as("reconciliation %s: %s", m, rec).isEqualTo(true);

      // Revenue: a month's row is its invoice to the cent; its days add up, exactly, to the rule
      // on the month's job rows before rounding, plus its fees and the adjustments it carries.
      Map<String, Object> invoice = billing.invoices(m);
      Map<String, Object> monthly = billing.revenue(m.atDay(1), m.atEndOfMonth(), "month");
      assertThat(sum(monthly, "total_usd"))
          .as("month revenue = invoice %s", m)
          .isEqualByComparingTo(new BigDecimal((String) invoice.get("total_usd")));
      BigDecimal exact = BigDecimal.ZERO;
      for (var e : units.entrySet()) {
        String a = e.getKey().substring(0, e.getKey().indexOf('|'));
        JobType p = JobType.fromWire(e.getKey().substring(e.getKey().indexOf('|') + 1));
        exact =
            exact.add(
                Billing.monthUsageAmount(
                    PRICES,
                    p,
                    plan(schedules, closedAt, a, p, m),
                    e.getValue()[0],
                    e.getValue()[1]));
      }
      for (Invoices.Item i : billing.book().items(m)) {
        exact = exact.add(i.fee()).add(i.adjustment() ? i.usageTotal() : BigDecimal.ZERO);
      }
      Map<String, Object> daily = billing.revenue(m.atDay(1), m.atEndOfMonth(), "day");
      assertThat(sum(daily, "total_usd")).as("daily revenue of %s", m).isEqualByComparingTo(exact);
    }

    // The deliberate error: the same usage metered with a wrong text price. Reconciliation flags
    // exactly the text rows metered pay-as-you-go, as metered amounts, and nothing else.
    meter(jdbi, arrivals, WRONG, List.of(), null);
    int flaggedRows = 0;
    for (YearMonth m : MONTHS) {
      Set<String> expectedFlagged = new TreeSet<>();
      for (Job j : jobs) {
        if (j.billed()
            && j.type() == JobType.TEXT
            && YearMonth.from(j.completed().atZone(ZoneOffset.UTC)).equals(m)
            && plan(schedules, closedAt, j.account(), JobType.TEXT, m) == PlanKind.PAYG) {
          expectedFlagged.add(j.account() + "|text");
        }
      }
      Map<String, Object> rec = billing.reconciliation(m);
      Set<String> flagged = new TreeSet<>();
      @SuppressWarnings("unchecked")
      List<Map<String, Object>> rows = (List<Map<String, Object>>) rec.get("rows");
      for (Map<String, Object> r : rows) {
        if (!(Boolean) r.get("matches")) {
          flagged.add(r.get("account_id") + "|" + r.get("product"));
          assertThat(r.get("differences")).as("%s", r).isEqualTo(List.of("metered_amount"));
        }
      }
      assertThat(flagged).as("flagged rows of %s (seed %d)", m, seed).isEqualTo(expectedFlagged);
      flaggedRows += flagged.size();
    }
    long adjustments =
        jdbi.withHandle(
            h ->
                h.createQuery("SELECT count(*) FROM invoice_items WHERE month <> origin_month")
                    .mapTo(Long.class)
                    .one());
    long late = arrivals.stream().filter(a -> a.usage() != null).count();
    System.out.printf(
        "billing property seed %d: %d accounts, %d jobs, %d usage arrivals, %d plan changes,"
            + " %d adjustment items on closed invoices, %d rows flagged by the wrong price%n",
        seed, accounts.size(), jobs.size(), late, recorded.size(), adjustments, flaggedRows);
  }

  @SuppressWarnings("unchecked")
  private static BigDecimal sum(Map<String, Object> report, String column) {
    BigDecimal total = BigDecimal.ZERO;
    for (Map<String, Object> r : (List<Map<String, Object>>) report.get("rows")) {
      total = total.add(new BigDecimal((String) r.get(column)));
    }
    return total;
  }

  /** The plan of a month under the final schedule; none after the account closed. */
  private static PlanKind plan(
      Map<String, List<AccountPlan.Change>> schedules,
      Map<String, Instant> closedAt,
      String account,
      JobType product,
      YearMonth m) {
    Instant closed = closedAt.get(account);
    if (closed != null && closed.isBefore(m.atDay(1).atStartOfDay(ZoneOffset.UTC).toInstant())) {
      return PlanKind.PAYG;
    }
    return new AccountPlan(
            account, Map.of(), null, Instant.EPOCH, schedules.getOrDefault(account, List.of()))
        .planOn(product, m.atDay(1));
  }

  /**
   * Runs the arrivals through a fresh metering topology in arrival order, writing each output
   * rollup through the sink's upsert; closes each month at its time in {@code closes}.
   */
  static void meter(
      Jdbi jdbi,
      List<Arrival> arrivals,
      PriceList prices,
      List<Instant> closes,
      BillingService billing) {
    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, "billing-property");
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    try (TopologyTestDriver driver =
        new TopologyTestDriver(UsageTopology.build(Duration.ofDays(60), prices), p)) {
      TestInputTopic<String, UsageEvent> usage =
          driver.createInputTopic(
              Topics.USAGE.name(), new StringSerializer(), new JsonSerde<>(UsageEvent.class));
      TestInputTopic<String, AccountPlan> plans =
          driver.createInputTopic(
              Topics.ACCOUNTS.name(), new StringSerializer(), new JsonSerde<>(AccountPlan.class));
      TestOutputTopic<String, UsageRollup> out =
          driver.createOutputTopic(
              Topics.USAGE_ROLLUPS.name(),
              new StringDeserializer(),
              new JsonSerde<>(UsageRollup.class));
      int next = 0;
      for (Arrival a : arrivals) {
        while (next < closes.size() && closes.get(next).isBefore(a.at())) {
          billing.close(MONTHS.get(next), "key_property");
          next++;
        }
        if (a.usage() != null) {
          usage.pipeInput(a.usage().accountId(), a.usage(), a.at());
        } else {
          plans.pipeInput(a.plan().accountId(), a.plan(), a.at());
        }
        List<UsageRollup> rollups = new ArrayList<>();
        out.readValuesToList().forEach(rollups::add);
        if (!rollups.isEmpty()) {
          Map<String, UsageRollup> latest = new HashMap<>();
          rollups.forEach(r -> latest.put(r.key(), r));
          jdbi.useHandle(h -> RollupSink.upsert(h, latest.values(), a.at()));
        }
      }
      while (next < closes.size()) {
        billing.close(MONTHS.get(next), "key_property");
        next++;
      }
    }
  }
}
