package com.kosmosx.api.billing;

import com.kosmosx.api.outbox.TopicFollower;
import com.kosmosx.contracts.Topics;
import com.kosmosx.contracts.UsageRollup;
import com.kosmosx.runtime.KafkaSettings;
import com.kosmosx.runtime.Loop;
import com.kosmosx.runtime.Quarantine;
import java.time.Clock;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.Jdbi;
import org.jdbi.v3.core.statement.PreparedBatch;

/**
 * Copies the metering rollups topic (read_committed) into {@code usage_rollups}, one batch per poll
 * in one transaction, offsets committed after. Upserts are idempotent and never move a total
 * backwards (rollups are cumulative: a redelivered older value is ignored), so replays and restarts
 * are harmless.
 */
public final class RollupSink extends TopicFollower<UsageRollup> {
  public static final String LOOP = "rollup-sink";
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
  private final Clock clock;

  public RollupSink(
      Jdbi jdbi,
      Supplier<Consumer<String, byte[]>> consumers,
      Clock clock,
      Loop.Settings settings,
      Quarantine quarantine) {
    super(LOOP, Topics.USAGE_ROLLUPS.name(), consumers, settings, quarantine);
    this.jdbi = jdbi;
    this.clock = clock;
  }

  @Override
  protected UsageRollup decode(ConsumerRecord<String, byte[]> record) {
    return Topics.USAGE_ROLLUPS.deserializeValue(record.value());
  }

  @Override
  protected void applyAll(List<UsageRollup> rollups) {
    // Only the latest total per rollup matters, and one multi-row upsert may not touch a row
    // twice: keep each key's largest total of the batch.
    Map<String, UsageRollup> latest = new LinkedHashMap<>();
    for (UsageRollup u : rollups) {
      latest.merge(u.key(), u, (a, b) -> b.requests() >= a.requests() ? b : a);
    }
    jdbi.useTransaction(h -> upsert(h, latest.values()));
    WRITES.inc(latest.size());
  }

  private static final io.prometheus.metrics.core.metrics.Counter WRITES =
      com.kosmosx.runtime.Metrics.counter(
          "kosmos_rollup_writes_total",
          "Usage rollups written to PostgreSQL (the finance tables) by the rollup sink");

  @Override
  protected void applyOne(UsageRollup rollup) {
    jdbi.useTransaction(h -> upsert(h, List.of(rollup)));
    WRITES.inc();
  }

  /** Takes a quarantined rollup back, in the replay's transaction. */
  public void replay(Handle h, byte[] payload) {
    UsageRollup u = Topics.USAGE_ROLLUPS.deserializeValue(payload);
    if (u != null) {
      upsert(h, List.of(u));
    }
  }

  private int[] upsert(Handle h, java.util.Collection<UsageRollup> rollups) {
    return upsert(h, rollups, clock.instant());
  }

  /** The sink's idempotent, never-backwards upsert (tests write rollups the way it does). */
  static int[] upsert(Handle h, java.util.Collection<UsageRollup> rollups, java.time.Instant now) {
    PreparedBatch batch = h.prepareBatch(UPSERT);
    for (UsageRollup u : rollups) {
      bind(batch, u, now).add();
    }
    return batch.execute();
  }

  private static PreparedBatch bind(PreparedBatch b, UsageRollup u, java.time.Instant now) {
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
        .bind("now", now);
  }

  /** Consumer settings: committed metering output only; offsets after the database writes. */
  public static Map<String, Object> consumerConfig(String bootstrap, String group) {
    return KafkaSettings.committedReader(bootstrap, group, "kosmos-api-rollup-sink", 2_000);
  }
}
