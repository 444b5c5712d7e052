package com.kosmosx.metering.core;

import static org.assertj.core.api.Assertions.assertThat;

import com.kosmosx.contracts.AccountPlan;
import com.kosmosx.contracts.JobType;
import com.kosmosx.contracts.JsonSerde;
import com.kosmosx.contracts.PriceList;
import com.kosmosx.contracts.Topics;
import com.kosmosx.contracts.UsageEvent;
import com.kosmosx.contracts.UsageRollup;
import java.math.BigDecimal;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The metering topology on Kafka Streams' test driver: every rule, deterministic times. */
class UsageTopologyTest {
  /** A small allowance so over/under is easy to see: 1,000 tokens for $100 a month. */
  private static final PriceList PRICES =
      new PriceList(
          new PriceList.Product(
              new BigDecimal("0.20"), 1_000, new BigDecimal("100"), 1_000, new BigDecimal("0.30")),
          PriceList.SEED.image(),
          BigDecimal.ZERO);

  private TopologyTestDriver driver;
  private TestInputTopic<String, UsageEvent> usage;
  private TestInputTopic<String, AccountPlan> accounts;
  private TestOutputTopic<String, UsageRollup> rollups;
  private final Map<String, UsageRollup> latest = new java.util.HashMap<>();

  @BeforeEach
  void setUp() {
    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, "metering-test");
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    driver = new TopologyTestDriver(UsageTopology.build(Duration.ofDays(35), PRICES), p);
    usage =
        driver.createInputTopic(
            Topics.USAGE.name(), new StringSerializer(), new JsonSerde<>(UsageEvent.class));
    accounts =
        driver.createInputTopic(
            Topics.ACCOUNTS.name(), new StringSerializer(), new JsonSerde<>(AccountPlan.class));
    rollups =
        driver.createOutputTopic(
            Topics.USAGE_ROLLUPS.name(),
            new StringDeserializer(),
            new JsonSerde<>(UsageRollup.class));
  }

  @AfterEach
  void tearDown() {
    driver.close();
  }

  private static UsageEvent text(String job, String account, int in, int out, String at) {
    return new UsageEvent(job, account, JobType.TEXT, in, out, 0, false, Instant.parse(at));
  }

  /** Sends an event that arrives {@code arrivalDelay} after it happened. */
  private void send(UsageEvent e, Duration arrivalDelay) {
    usage.pipeInput(e.accountId(), e, e.occurredAt().plus(arrivalDelay));
  }

  private void send(UsageEvent e) {
    send(e, Duration.ofSeconds(1));
  }

  private UsageRollup rollup(String key) {
    rollups.readKeyValuesToList().forEach(kv -> latest.put(kv.key, kv.value));
    return latest.get(key);
  }

  private static String day(String account, String day) {
    return account + "|text|day|" + day + "T00:00:00Z";
  }

  private static String month(String account, String month) {
    return account + "|text|month|" + month + "-01T00:00:00Z";
  }

  @Test
  void withoutTheRecordCacheEveryUpdateIsForwardedAtOnce() {
    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, "metering-test-uncached");
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
    try (TopologyTestDriver uncached =
        new TopologyTestDriver(UsageTopology.build(Duration.ofDays(35), PRICES), p)) {
      var in =
          uncached.createInputTopic(
              Topics.USAGE.name(), new StringSerializer(), new JsonSerde<>(UsageEvent.class));
      var out =
          uncached.createOutputTopic(
              Topics.USAGE_ROLLUPS.name(),
              new StringDeserializer(),
              new JsonSerde<>(UsageRollup.class));
      UsageEvent a = text("job_u1", "acc_u", 10, 5, "2026-11-27T10:00:00Z");
      UsageEvent b = text("job_u2", "acc_u", 300, 20, "2026-11-27T10:30:00Z");
      in.pipeInput(a.accountId(), a, a.occurredAt().plusSeconds(1));
      in.pipeInput(b.accountId(), b, b.occurredAt().plusSeconds(1));
      var records = out.readKeyValuesToList();
      // Hour, day and month for each event: six updates, the last of each key cumulative.
      assertThat(records).hasSize(6);
      assertThat(records.get(5).key).isEqualTo(month("acc_u", "2026-11"));
      assertThat(records.get(5).value.billableTokens()).isEqualTo(100 + 320);
    }
  }

  @Test
  void sumsPerAccountProductAndUtcHourDayAndMonthWithTheMinimumApplied() {
    send(text("job_1", "acc_a", 10, 5, "2026-11-27T10:00:00Z"));
    send(text("job_2", "acc_a", 300, 20, "2026-11-27T23:59:59Z"));
    send(text("job_3", "acc_a", 1, 1, "2026-11-28T00:00:00Z"));
    send(text("job_4", "acc_b", 7, 7, "2026-11-27T12:00:00Z"));

    UsageRollup day1 = rollup(day("acc_a", "2026-11-27"));
    assertThat(day1.requests()).isEqualTo(2);
    assertThat(day1.inputTokens()).isEqualTo(310);
    assertThat(day1.outputTokens()).isEqualTo(25);
    assertThat(day1.billableTokens()).isEqualTo(100 + 320);
    assertThat(day1.paygAmount()).isEqualByComparingTo("0.084"); // 420 x $0.0002
    assertThat(rollup(day("acc_a", "2026-11-28")).billableTokens()).isEqualTo(100);
    assertThat(rollup("acc_a|text|hour|2026-11-27T23:00:00Z").requests()).isEqualTo(1);
    UsageRollup nov = rollup(month("acc_a", "2026-11"));
    assertThat(nov.requests()).isEqualTo(3);
    assertThat(nov.billableTokens()).isEqualTo(520);
    assertThat(nov.plan()).isEqualTo(AccountPlan.PlanKind.PAYG);
    assertThat(rollup(day("acc_b", "2026-11-27")).requests()).isEqualTo(1);
  }

  @Test
  void monthBoundariesAreUtc() {
    send(text("job_a", "acc_m", 100, 0, "2026-11-30T23:59:59.999Z"));
    send(text("job_b", "acc_m", 100, 0, "2026-12-01T00:00:00Z"));
    assertThat(rollup(month("acc_m", "2026-11")).requests()).isEqualTo(1);
    assertThat(rollup(month("acc_m", "2026-12")).requests()).isEqualTo(1);
  }

  @Test
  void aUsageEventPublishedTwiceCountsOnce() {
    var e = text("job_dup", "acc_a", 500, 100, "2026-11-27T10:00:00Z");
    send(e);
    send(e, Duration.ofMinutes(5));
    UsageRollup d = rollup(day("acc_a", "2026-11-27"));
    assertThat(d.requests()).isEqualTo(1);
    assertThat(d.billableTokens()).isEqualTo(600);
  }

  @Test
  void thePlanInForceOnTheEventsDayDecidesHowItIsBilledEvenWhenThePlanChangesMidStream() {
    // Pay-as-you-go in November; a dedicated plan from December 1st, recorded mid-November.
    send(text("job_n1", "acc_d", 200, 0, "2026-11-20T10:00:00Z"));
    accounts.pipeInput(
        "acc_d",
        new AccountPlan(
            "acc_d",
            Map.of(),
            null,
            Instant.parse("2026-11-21T00:00:00Z"),
            List.of(
                new AccountPlan.Change(
                    JobType.TEXT,
                    AccountPlan.PlanKind.DEDICATED,
                    "dedicated",
                    LocalDate.parse("2026-12-01")))));
    send(text("job_n2", "acc_d", 300, 0, "2026-11-25T10:00:00Z"));
    send(text("job_d1", "acc_d", 600, 0, "2026-12-02T10:00:00Z"));
    send(text("job_d2", "acc_d", 700, 0, "2026-12-03T10:00:00Z"));

    UsageRollup nov = rollup(month("acc_d", "2026-11"));
    assertThat(nov.plan()).isEqualTo(AccountPlan.PlanKind.PAYG);
    assertThat(nov.billableTokens()).isEqualTo(500);
    assertThat(nov.paygAmount()).isEqualByComparingTo("0.10");

    UsageRollup dec = rollup(month("acc_d", "2026-12"));
    assertThat(dec.plan()).isEqualTo(AccountPlan.PlanKind.DEDICATED);
    assertThat(dec.dedicatedUnits()).isEqualTo(1_300);
    assertThat(dec.allowanceUsed()).isEqualTo(1_000);
    assertThat(dec.overageUnits()).isEqualTo(300);
    assertThat(dec.overageAmount()).isEqualByComparingTo("0.09"); // 300 x $0.30 / 1,000
    assertThat(dec.paygAmount()).isEqualByComparingTo("0");
    // Daily rollups of a dedicated month carry units, not money (the fee is monthly).
    assertThat(rollup(day("acc_d", "2026-12-02")).amount()).isEqualByComparingTo("0");
  }

  @Test
  void aLateEventIsAddedToItsOwnPeriodHoweverLateItArrives() {
    send(text("job_late", "acc_l", 100, 0, "2026-11-30T22:00:00Z"), Duration.ofDays(1));
    assertThat(rollup(day("acc_l", "2026-11-30")).requests()).isEqualTo(1);
    // Forty days late: still November's usage (whether November was already invoiced is the
    // invoice's concern, which bills it as an adjustment if so), never dropped, never moved.
    send(text("job_very_late", "acc_l", 150, 0, "2026-11-29T10:00:00Z"), Duration.ofDays(40));
    UsageRollup nov = rollup(month("acc_l", "2026-11"));
    assertThat(nov.requests()).isEqualTo(2);
    assertThat(nov.billableTokens()).isEqualTo(250);
    assertThat(nov.paygAmount()).isEqualByComparingTo("0.05");
    assertThat(nov.adjustment()).isFalse();
    assertThat(latest.keySet()).noneMatch(k -> k.contains("adjustment"));
  }

  private static AccountPlan dedicatedFrom(String account, String from, String recorded) {
    return new AccountPlan(
        account,
        Map.of(),
        null,
        Instant.parse(recorded),
        List.of(
            new AccountPlan.Change(
                JobType.TEXT, AccountPlan.PlanKind.DEDICATED, "dedicated", LocalDate.parse(from))));
  }

  @Test
  void aPlanChangeDatedInTheCurrentMonthRepricesTheUsageAlreadyMeteredWithoutAnotherEvent() {
    // Usage metered as pay-as-you-go on December 2nd and 3rd; on the 5th a dedicated plan is set
    // from December 1st (allowed: the current month). No further usage arrives.
    send(text("job_r1", "acc_r", 800, 0, "2026-12-02T10:00:00Z"));
    send(text("job_r2", "acc_r", 500, 0, "2026-12-03T10:00:00Z"));
    assertThat(rollup(month("acc_r", "2026-12")).paygAmount()).isEqualByComparingTo("0.26");
    accounts.pipeInput(
        "acc_r",
        dedicatedFrom("acc_r", "2026-12-01", "2026-12-05T00:00:00Z"),
        Instant.parse("2026-12-05T00:00:00Z"));

    UsageRollup dec = rollup(month("acc_r", "2026-12"));
    assertThat(dec.plan()).isEqualTo(AccountPlan.PlanKind.DEDICATED);
    assertThat(dec.paygAmount()).isEqualByComparingTo("0");
    assertThat(dec.allowanceUsed()).isEqualTo(1_000);
    assertThat(dec.overageUnits()).isEqualTo(300);
    assertThat(dec.overageAmount()).isEqualByComparingTo("0.09");
    UsageRollup day = rollup(day("acc_r", "2026-12-02"));
    assertThat(day.plan()).isEqualTo(AccountPlan.PlanKind.DEDICATED);
    assertThat(day.amount()).isEqualByComparingTo("0");
    assertThat(rollup("acc_r|text|hour|2026-12-03T10:00:00Z").plan())
        .isEqualTo(AccountPlan.PlanKind.DEDICATED);
  }

  @Test
  void theResultDoesNotDependOnWhetherThePlanOrTheUsageArrivesFirst() {
    UsageEvent a = text("job_o1", "acc_o1", 800, 0, "2026-12-02T10:00:00Z");
    UsageEvent b = text("job_o2", "acc_o1", 500, 0, "2026-12-03T10:00:00Z");
    // acc_o1: usage, then plan; acc_o2: plan, then the same usage.
    send(a);
    send(b);
    accounts.pipeInput("acc_o1", dedicatedFrom("acc_o1", "2026-12-01", "2026-12-05T00:00:00Z"));
    accounts.pipeInput("acc_o2", dedicatedFrom("acc_o2", "2026-12-01", "2026-12-05T00:00:00Z"));
    send(text("job_o3", "acc_o2", 800, 0, "2026-12-02T10:00:00Z"));
    send(text("job_o4", "acc_o2", 500, 0, "2026-12-03T10:00:00Z"));
    UsageRollup first = rollup(month("acc_o1", "2026-12"));
    UsageRollup second = rollup(month("acc_o2", "2026-12"));
    assertThat(first.plan()).isEqualTo(second.plan());
    assertThat(first.amount()).isEqualByComparingTo(second.amount());
    assertThat(first.overageUnits()).isEqualTo(second.overageUnits()).isEqualTo(300);
  }

  @Test
  void aRemovedScheduleRepricesBackToPayAsYouGoAndLeavesOtherAccountsAlone() {
    accounts.pipeInput("acc_x", dedicatedFrom("acc_x", "2026-12-01", "2026-11-20T00:00:00Z"));
    send(text("job_x1", "acc_x", 1_500, 0, "2026-12-02T10:00:00Z"));
    send(text("job_x2", "acc_x1", 1_500, 0, "2026-12-02T10:00:00Z")); // a prefix-alike account
    assertThat(rollup(month("acc_x", "2026-12")).overageUnits()).isEqualTo(500);
    accounts.pipeInput("acc_x", null);
    UsageRollup dec = rollup(month("acc_x", "2026-12"));
    assertThat(dec.plan()).isEqualTo(AccountPlan.PlanKind.PAYG);
    assertThat(dec.paygAmount()).isEqualByComparingTo("0.30");
    assertThat(dec.overageUnits()).isZero();
    assertThat(rollup(month("acc_x1", "2026-12")).paygAmount()).isEqualByComparingTo("0.30");
  }
}
