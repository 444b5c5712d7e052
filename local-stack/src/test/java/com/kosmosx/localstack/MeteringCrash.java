package com.kosmosx.localstack;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.kosmosx.contracts.BillableUnits;
import com.kosmosx.contracts.JobType;
import com.kosmosx.contracts.Topics;
import com.kosmosx.contracts.UsageEvent;
import com.kosmosx.platform.EmbeddedPostgresServer;
import java.math.BigDecimal;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Metering across a SIGKILL of its process, in the real local stack (broker, PostgreSQL, API with
 * its rollup sink, metering-stream): 5,000 usage events (and 500 re-published duplicates) from 40
 * accounts, with metering killed halfway and started again from its state folder, while an admin
 * changes ten accounts' plans through the API (dedicated text from the month's start, three of them
 * back to pay-as-you-go later, some changes landing just before the kill and some after it). The
 * month rollups in PostgreSQL equal the sums computed here from the events, are priced under each
 * account's final plan, and the API's reconciliation (units, plans and amounts against the job
 * records and the invoice) reports no difference.
 *
 * <p>The job rows are written straight into PostgreSQL, as the API's projection would have written
 * them, and their usage events straight to the usage topic, as the worker would: running 5,000
 * model jobs would test the worker, which CrashIT does; this test is about metering.
 */
final class MeteringCrash {
  private static final HttpClient HTTP = HttpClient.newHttpClient();
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String MONTH = "2031-03";

  private MeteringCrash() {}

  /**
   * Runs the scenario on a running stack (CrashIT's, to share its start-up) whose bootstrap admin
   * key is {@code admin}; its accounts and month (2031-03) are its own.
   */
  static void run(StackLayout layout, LocalStack stack, String admin) throws Exception {
    MeteringCrash.admin = admin;
    {
      Random random = new Random(7);
      Instant start = Instant.parse(MONTH + "-01T00:00:00Z");
      List<String> accounts = new ArrayList<>();
      for (int a = 0; a < 40; a++) {
        accounts.add("acc_mcrash_" + a);
      }
      List<UsageEvent> events = new ArrayList<>();
      for (int i = 0; i < 5_000; i++) {
        boolean text = random.nextInt(5) > 0;
        events.add(
            new UsageEvent(
                "job_mcrash_" + i,
                accounts.get(random.nextInt(accounts.size())),
                text ? JobType.TEXT : JobType.IMAGE,
                random.nextInt(300),
                random.nextInt(200),
                text ? 0 : 1,
                !text && random.nextBoolean(),
                start.plusSeconds(random.nextInt(28 * 86_400))));
      }
      writeJobRecords(layout, accounts, events);

      // Independent sums per account and product: requests, billable units.
      Map<String, long[]> expected = new HashMap<>();
      for (UsageEvent e : events) {
        long[] s =
            expected.computeIfAbsent(e.accountId() + "|" + e.product().wire(), k -> new long[2]);
        s[0]++;
        s[1] += e.product() == JobType.TEXT ? BillableUnits.tokens(e) : BillableUnits.images(e);
      }

      Properties pp = new Properties();
      pp.put("bootstrap.servers", layout.kafkaBootstrap());
      pp.put("acks", "all");
      try (var producer =
          new KafkaProducer<>(pp, new StringSerializer(), new ByteArraySerializer())) {
        for (int i = 0; i < events.size(); i++) {
          UsageEvent e = events.get(i);
          byte[] value = Topics.USAGE.serializeValue(e);
          producer.send(new ProducerRecord<>(Topics.USAGE.name(), e.accountId(), value));
          if (i % 10 == 0) { // a duplicate, as a re-run job's worker would publish it
            producer.send(new ProducerRecord<>(Topics.USAGE.name(), e.accountId(), value));
          }
          Integer a = PLAN_CHANGES.get(i);
          if (a != null) {
            setPlan(layout, "acc_mcrash_" + a, "dedicated");
          }
          Integer back = PAYG_AGAIN.get(i);
          if (back != null) {
            setPlan(layout, "acc_mcrash_" + back, "payg");
          }
          if (i == 2_500) {
            producer.flush(); // metering is in the middle of these
            stack.kill9("metering");
          }
        }
        producer.flush();
      }
      assertThat(stack.up(true)).isZero(); // restarts metering from its state folder

      JsonNode rec = null;
      long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
      while (System.nanoTime() < deadline) {
        rec = reconciliation(layout);
        if (rec.path("matches").asBoolean() && rowsFor(rec) == expected.size()) {
          break;
        }
        Thread.sleep(500);
      }
      assertThat(rec.path("matches").asBoolean()).as(rec.toString()).isTrue();
      assertThat(rowsFor(rec)).isEqualTo(expected.size());

      Map<String, Object[]> months = monthRollups(layout);
      for (var e : expected.entrySet()) {
        Object[] row = months.get(e.getKey());
        assertThat(row).as(e.getKey()).isNotNull();
        assertThat((long) row[0]).as(e.getKey() + " requests").isEqualTo(e.getValue()[0]);
        assertThat((long) row[1]).as(e.getKey() + " units").isEqualTo(e.getValue()[1]);
        BigDecimal rate = new BigDecimal(e.getKey().endsWith("|text") ? "0.0002" : "0.50");
        boolean dedicated = e.getKey().endsWith("|text") && finalPlanDedicated(e.getKey());
        assertThat(row[3]).as(e.getKey() + " plan").isEqualTo(dedicated ? "dedicated" : "payg");
        assertThat((BigDecimal) row[2])
            .as(e.getKey() + " amount")
            .isEqualByComparingTo(
                dedicated
                    ? BigDecimal.ZERO // inside the 50M-token allowance: the fee covers it
                    : rate.multiply(BigDecimal.valueOf(e.getValue()[1])));
      }
      assertThat(months).hasSize(expected.size());
      System.out.printf(
          "metering kill -9: 5,000 events (+500 duplicates), 40 accounts: %d month rollups in"
              + " PostgreSQL equal the independent sums; reconciliation: %d rows, 0 differences%n",
          months.size(), rowsFor(rec));
    }
  }

  private static String admin;

  /** The accounts and the succeeded job rows behind the events (what the projection writes). */
  private static void writeJobRecords(
      StackLayout layout, List<String> accounts, List<UsageEvent> events) throws Exception {
    try (Connection c =
        DriverManager.getConnection(layout.jdbcUrl(), EmbeddedPostgresServer.USER, "")) {
      c.setAutoCommit(false);
      try (PreparedStatement ps =
          c.prepareStatement(
              "INSERT INTO accounts (id, username, email, password_hash, webhook_secret,"
                  + " created_at) VALUES (?, ?, 'm@example.com', 'x', 'x', now())")) {
        for (String a : accounts) {
          ps.setString(1, a);
          ps.setString(2, a);
          ps.addBatch();
        }
        ps.executeBatch();
      }
      try (PreparedStatement ps =
          c.prepareStatement(
              "INSERT INTO jobs (id, account_id, type, status, lane, input_tokens, output_tokens,"
                  + " images, created_at, started_at, completed_at, input)"
                  + " VALUES (?, ?, ?, 'succeeded', 'shared', ?, ?, ?, ?, ?, ?,"
                  + " CAST(? AS jsonb))")) {
        for (UsageEvent e : events) {
          Timestamp at = Timestamp.from(e.occurredAt());
          ps.setString(1, e.eventId());
          ps.setString(2, e.accountId());
          ps.setString(3, e.product().wire());
          ps.setInt(4, e.inputTokens());
          ps.setInt(5, e.outputTokens());
          ps.setInt(6, e.images());
          ps.setTimestamp(7, at);
          ps.setTimestamp(8, at);
          ps.setTimestamp(9, at);
          // What the job asked for: reconciliation counts detection surcharges from it.
          ps.setString(
              10,
              e.product() == JobType.IMAGE
                  ? "{\"detect_objects\":" + e.objectDetection() + "}"
                  : "{}");
          ps.addBatch();
        }
        ps.executeBatch();
      }
      c.commit();
    }
  }

  private static Map<String, Object[]> monthRollups(StackLayout layout) throws Exception {
    Map<String, Object[]> out = new HashMap<>();
    try (Connection c =
            DriverManager.getConnection(layout.jdbcUrl(), EmbeddedPostgresServer.USER, "");
        ResultSet rs =
            c.createStatement()
                .executeQuery(
                    "SELECT account_id, product, requests, billable_tokens, billable_images,"
                        + " payg_amount + overage_amount, plan FROM usage_rollups"
                        + " WHERE period = 'month'"
                        + " AND account_id LIKE 'acc_mcrash_%' AND NOT adjustment")) {
      while (rs.next()) {
        boolean text = rs.getString(2).equals("text");
        out.put(
            rs.getString(1) + "|" + rs.getString(2),
            new Object[] {
              rs.getLong(3),
              text ? rs.getLong(4) : rs.getLong(5),
              rs.getBigDecimal(6),
              rs.getString(7)
            });
      }
    }
    return out;
  }

  /** Event index -> account set to dedicated text from the month's start, at that moment. */
  private static final Map<Integer, Integer> PLAN_CHANGES =
      Map.of(
          100, 0, 600, 1, 1_200, 2, 2_000, 3, 2_450, 4, 2_499, 5, 2_501, 6, 2_600, 7, 3_500, 8,
          4_900, 9);

  /** Event index -> account set back to pay-as-you-go for the month (a correction). */
  private static final Map<Integer, Integer> PAYG_AGAIN = Map.of(1_000, 0, 2_500, 1, 4_000, 7);

  private static boolean finalPlanDedicated(String key) {
    int account = Integer.parseInt(key.substring("acc_mcrash_".length(), key.indexOf('|')));
    return PLAN_CHANGES.containsValue(account) && !PAYG_AGAIN.containsValue(account);
  }

  /** An admin sets the account's text plan for the whole month, through the API. */
  private static void setPlan(StackLayout layout, String account, String plan) throws Exception {
    HttpResponse<String> r =
        HTTP.send(
            HttpRequest.newBuilder(
                    URI.create(layout.apiUrl() + "/v1/admin/accounts/" + account + "/plan"))
                .header("Authorization", "Bearer " + admin)
                .header("Content-Type", "application/json")
                .PUT(
                    HttpRequest.BodyPublishers.ofString(
                        "{\"text\":{\"plan\":\""
                            + plan
                            + "\",\"effective_from\":\""
                            + MONTH
                            + "-01\"}}"))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
  }

  private static JsonNode reconciliation(StackLayout layout) throws Exception {
    HttpResponse<String> r =
        HTTP.send(
            HttpRequest.newBuilder(
                    URI.create(layout.apiUrl() + "/v1/admin/reconciliation?month=" + MONTH))
                .header("Authorization", "Bearer " + admin)
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    return JSON.readTree(r.body());
  }

  /** Reconciliation rows for this test's accounts that have metered units. */
  private static long rowsFor(JsonNode rec) {
    long n = 0;
    for (JsonNode row : rec.path("rows")) {
      if (row.path("account_id").asText().startsWith("acc_mcrash_")
          && row.path("metered_billable_units").asLong() > 0) {
        n++;
      }
    }
    return n;
  }
}
