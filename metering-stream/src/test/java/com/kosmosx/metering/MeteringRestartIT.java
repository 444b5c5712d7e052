package com.kosmosx.metering;

import static org.assertj.core.api.Assertions.assertThat;

import com.kosmosx.contracts.BillableUnits;
import com.kosmosx.contracts.JobType;
import com.kosmosx.contracts.PriceList;
import com.kosmosx.contracts.TopicAdmin;
import com.kosmosx.contracts.Topics;
import com.kosmosx.contracts.UsageEvent;
import com.kosmosx.contracts.UsageRollup;
import com.kosmosx.metering.core.UsageTopology;
import com.kosmosx.platform.SharedPlatform;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.UUID;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.junit.jupiter.api.Test;

/**
 * 5,000 usage events from 40 accounts (with duplicates) through the real Streams app on the
 * embedded broker, which is stopped abruptly halfway and started again from its state folder: the
 * month rollups must equal the sums computed independently from the events.
 */
class MeteringRestartIT {

  @Test
  void rollupsEqualIndependentSumsAcrossAnAbruptRestart() throws Exception {
    String bootstrap = SharedPlatform.kafka().bootstrapServers();
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
      TopicAdmin.ensureTopics(admin, Topics.all(), 4, (short) 1);
    }
    String run = UUID.randomUUID().toString().substring(0, 8);
    Random random = new Random(42);
    List<UsageEvent> events = new ArrayList<>();
    Instant month = Instant.parse("2031-03-01T00:00:00Z");
    for (int i = 0; i < 5_000; i++) {
      String account = "acc_" + run + "_" + random.nextInt(40);
      boolean text = random.nextInt(5) > 0;
      events.add(
          new UsageEvent(
              "job_" + run + "_" + i,
              account,
              text ? JobType.TEXT : JobType.IMAGE,
              random.nextInt(300),
              random.nextInt(200),
              text ? 0 : 1,
              !text && random.nextBoolean(),
              month.plusSeconds(random.nextInt(28 * 86_400))));
    }
    // Independent sums: month billable units and pay-as-you-go amount per account and product.
    Map<String, long[]> expected = new HashMap<>();
    for (UsageEvent e : events) {
      long[] s =
          expected.computeIfAbsent(e.accountId() + "|" + e.product().wire(), k -> new long[3]);
      s[0]++;
      s[1] += e.product() == JobType.TEXT ? BillableUnits.tokens(e) : BillableUnits.images(e);
    }

    var state = Files.createTempDirectory("metering-restart");
    // The service's own settings (exactly_once_v2, the folding rollup cache), with a short commit
    // interval so that the abrupt close lands between many commits.
    MeteringConfiguration config = new MeteringConfiguration();
    config.kafkaBootstrap = bootstrap;
    config.applicationId = "metering-restart-" + run;
    config.stateDir = state.toString();
    config.commitInterval = io.dropwizard.util.Duration.milliseconds(100);
    Properties p = MeteringApplication.streamsProperties(config);
    p.put(StreamsConfig.consumerPrefix("auto.offset.reset"), "earliest");

    Properties pp = new Properties();
    pp.put("bootstrap.servers", bootstrap);
    try (var producer =
        new KafkaProducer<>(pp, new StringSerializer(), new ByteArraySerializer())) {
      KafkaStreams first =
          new KafkaStreams(UsageTopology.build(Duration.ofDays(35), PriceList.SEED), p);
      first.start();
      for (int i = 0; i < events.size(); i++) {
        UsageEvent e = events.get(i);
        producer.send(
            new ProducerRecord<>(
                Topics.USAGE.name(), e.accountId(), Topics.USAGE.serializeValue(e)));
        if (i % 10 == 0) {
          // A duplicate, as a re-run worker would publish it.
          producer.send(
              new ProducerRecord<>(
                  Topics.USAGE.name(), e.accountId(), Topics.USAGE.serializeValue(e)));
        }
        if (i == 2_500) {
          producer.flush();
          Thread.sleep(1_500);
          // Abrupt: the close does not wait for the threads; an open transaction is aborted.
          first.close(Duration.ZERO);
          long stop = System.nanoTime() + Duration.ofSeconds(60).toNanos();
          while (first.state() != KafkaStreams.State.NOT_RUNNING && System.nanoTime() < stop) {
            Thread.sleep(50);
          }
        }
      }
      producer.flush();
    }
    KafkaStreams second =
        new KafkaStreams(UsageTopology.build(Duration.ofDays(35), PriceList.SEED), p);
    second.start();
    try {
      Map<String, UsageRollup> months = new HashMap<>();
      Properties cp = new Properties();
      cp.put("bootstrap.servers", bootstrap);
      cp.put("group.id", "restart-check-" + run);
      cp.put("auto.offset.reset", "earliest");
      cp.put("isolation.level", "read_committed");
      long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
      try (var c = new KafkaConsumer<>(cp, new StringDeserializer(), new ByteArrayDeserializer())) {
        c.subscribe(List.of(Topics.USAGE_ROLLUPS.name()));
        while (System.nanoTime() < deadline && !matches(months, expected)) {
          for (var r : c.poll(Duration.ofMillis(500))) {
            if (r.key().startsWith("acc_" + run + "_") && r.key().contains("|month|")) {
              months.put(r.key(), Topics.USAGE_ROLLUPS.deserializeValue(r.value()));
            }
          }
        }
      }
      for (var e : expected.entrySet()) {
        String[] k = e.getKey().split("\\|");
        UsageRollup m =
            months.get(
                UsageRollup.key(k[0], JobType.fromWire(k[1]), UsageRollup.Period.MONTH, month));
        assertThat(m).as(e.getKey()).isNotNull();
        assertThat(m.requests()).as(e.getKey()).isEqualTo(e.getValue()[0]);
        assertThat(m.billableUnits()).as(e.getKey()).isEqualTo(e.getValue()[1]);
        BigDecimal payg =
            k[1].equals("text")
                ? new BigDecimal(e.getValue()[1]).multiply(new BigDecimal("0.0002"))
                : new BigDecimal(e.getValue()[1]).multiply(new BigDecimal("0.50"));
        assertThat(m.paygAmount()).as(e.getKey()).isEqualByComparingTo(payg);
      }
      System.out.printf(
          "metering restart: 5,000 events (+500 duplicates) from 40 accounts, %d month rollups equal"
              + " the independent sums%n",
          expected.size());
    } finally {
      second.close(Duration.ofSeconds(10));
    }
  }

  private static boolean matches(Map<String, UsageRollup> months, Map<String, long[]> expected) {
    long total = months.values().stream().mapToLong(UsageRollup::requests).sum();
    long want = expected.values().stream().mapToLong(s -> s[0]).sum();
    return total == want && months.size() == expected.size();
  }
}
