package com.kosmosx.api.core;

import com.kosmosx.contracts.Topics;
import com.kosmosx.contracts.UsageRollup;
import io.dropwizard.lifecycle.Managed;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.common.errors.WakeupException;
import org.jdbi.v3.core.Jdbi;
import org.jdbi.v3.core.statement.PreparedBatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Copies the metering rollups topic (read_committed) into {@code usage_rollups}, one batch per poll
 * in one transaction, offsets committed after. Upserts are idempotent and never move a total
 * backwards (rollups are cumulative: a redelivered older value is ignored), so replays and restarts
 * are harmless.
 */
public final class RollupSink implements Managed {
  private static final Logger LOG = LoggerFactory.getLogger(RollupSink.class);
  static final String UPSERT =
      "INSERT INTO usage_rollups (rollup_key, account_id, product, period, period_start, plan,"
          + " adjustment, requests, input_tokens, output_tokens, billable_tokens, images,"
          + " billable_images, detection_images, payg_amount, detection_amount, dedicated_units,"
          + " allowance_used, overage_units, overage_amount, updated_at) VALUES (:key, :account,"
          + " :product, :period, :start, :plan, :adjustment, :requests, :inputTokens, :outputTokens,"
          + " :billableTokens, :images, :billableImages, :detectionImages, :paygAmount,"
          + " :detectionAmount, :dedicatedUnits, :allowanceUsed, :overageUnits, :overageAmount,"
          + " :now) ON CONFLICT (rollup_key) DO UPDATE SET plan = EXCLUDED.plan,"
          + " requests = EXCLUDED.requests, input_tokens = EXCLUDED.input_tokens,"
          + " output_tokens = EXCLUDED.output_tokens, billable_tokens = EXCLUDED.billable_tokens,"
          + " images = EXCLUDED.images, billable_images = EXCLUDED.billable_images,"
          + " detection_images = EXCLUDED.detection_images, payg_amount = EXCLUDED.payg_amount,"
          + " detection_amount = EXCLUDED.detection_amount,"
          + " dedicated_units = EXCLUDED.dedicated_units,"
          + " allowance_used = EXCLUDED.allowance_used, overage_units = EXCLUDED.overage_units,"
          + " overage_amount = EXCLUDED.overage_amount, updated_at = EXCLUDED.updated_at"
          + " WHERE usage_rollups.requests <= EXCLUDED.requests";

  private final Jdbi jdbi;
  private final Supplier<Consumer<String, byte[]>> consumers;
  private final Clock clock;
  private final Backoff backoff;
  private volatile boolean running;
  private volatile Consumer<String, byte[]> consumer;
  private volatile long lastRecordMillis;
  private Thread thread;

  public RollupSink(
      Jdbi jdbi, Supplier<Consumer<String, byte[]>> consumers, Clock clock, Backoff backoff) {
    this.jdbi = jdbi;
    this.consumers = consumers;
    this.clock = clock;
    this.backoff = backoff;
  }

  public long lastRecordMillis() {
    return lastRecordMillis;
  }

  @Override
  public void start() {
    running = true;
    thread = new Thread(this::loop, "rollup-sink");
    thread.setDaemon(true);
    thread.start();
  }

  @Override
  public void stop() throws InterruptedException {
    running = false;
    Consumer<String, byte[]> c = consumer;
    if (c != null) {
      c.wakeup();
    }
    if (thread != null) {
      thread.join(TimeUnit.SECONDS.toMillis(10));
    }
  }

  private void loop() {
    int failures = 0;
    while (running) {
      Consumer<String, byte[]> c = consumers.get();
      try {
        consumer = c;
        c.subscribe(List.of(Topics.USAGE_ROLLUPS.name()));
        while (running) {
          ConsumerRecords<String, byte[]> records = c.poll(Duration.ofMillis(500));
          if (records.isEmpty()) {
            continue;
          }
          write(records);
          c.commitSync();
          lastRecordMillis = clock.millis();
          failures = 0;
        }
      } catch (WakeupException e) {
        return;
      } catch (RuntimeException e) {
        failures++;
        LOG.warn("rollup sink failed ({}), restarting: {}", failures, e.toString());
        try {
          Thread.sleep(backoff.delay(failures).toMillis());
        } catch (InterruptedException ie) {
          return;
        }
      } finally {
        consumer = null;
        c.close(Duration.ofSeconds(5));
      }
    }
  }

  void write(Iterable<ConsumerRecord<String, byte[]>> records) {
    jdbi.useTransaction(
        h -> {
          PreparedBatch batch = h.prepareBatch(UPSERT);
          int n = 0;
          for (ConsumerRecord<String, byte[]> r : records) {
            UsageRollup u;
            try {
              u = Topics.USAGE_ROLLUPS.deserializeValue(r.value());
            } catch (RuntimeException e) {
              LOG.error("skipping unreadable rollup at offset {}: {}", r.offset(), e.toString());
              continue;
            }
            if (u == null) {
              continue;
            }
            bind(batch, u).add();
            n++;
          }
          if (n > 0) {
            batch.execute();
          }
        });
  }

  private PreparedBatch bind(PreparedBatch b, UsageRollup u) {
    return b.bind("key", u.key())
        .bind("account", u.accountId())
        .bind("product", u.product().wire())
        .bind("period", u.period().wire())
        .bind("start", u.periodStart())
        .bind("plan", u.plan().name().toLowerCase(java.util.Locale.ROOT))
        .bind("adjustment", u.adjustment())
        .bind("requests", u.requests())
        .bind("inputTokens", u.inputTokens())
        .bind("outputTokens", u.outputTokens())
        .bind("billableTokens", u.billableTokens())
        .bind("images", u.images())
        .bind("billableImages", u.billableImages())
        .bind("detectionImages", u.detectionImages())
        .bind("paygAmount", u.paygAmount())
        .bind("detectionAmount", u.detectionAmount())
        .bind("dedicatedUnits", u.dedicatedUnits())
        .bind("allowanceUsed", u.allowanceUsed())
        .bind("overageUnits", u.overageUnits())
        .bind("overageAmount", u.overageAmount())
        .bind("now", clock.instant());
  }

  /** Consumer settings: committed metering output only; offsets after the database writes. */
  public static Map<String, Object> consumerConfig(String bootstrap, String group) {
    return Map.of(
        "bootstrap.servers",
        bootstrap,
        "group.id",
        group,
        "isolation.level",
        "read_committed",
        "enable.auto.commit",
        false,
        "auto.offset.reset",
        "earliest",
        "max.poll.records",
        2_000);
  }
}
