package com.kosmosx.metering.core;

import com.kosmosx.contracts.AccountPlan;
import com.kosmosx.contracts.JsonSerde;
import com.kosmosx.contracts.PriceList;
import com.kosmosx.contracts.Topics;
import com.kosmosx.contracts.UsageEvent;
import com.kosmosx.contracts.UsageRollup;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.GlobalKTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;

/**
 * Usage events to billable, cumulative rollups per account, product and period.
 *
 * <pre>
 * kosmos.usage.v1 (key account) -> dedupe by event id (= job id)
 *   -> left join kosmos.accounts.v1 (global table: each account's plan schedule)
 *   -> per UTC hour, day and calendar month: add the event under the plan in force on its day
 *   -> kosmos.usage-rollups.v1 (compacted; key account|product|period|start[|adjustment-plan])
 * </pre>
 *
 * <p>An event counts in its own periods if it arrives (its record timestamp) before that period
 * ended plus the grace; a later one is never dropped: it is billed in the period it arrived in, as
 * an adjustment rollup. Usage is keyed by account, so all of an account's rollups live in one
 * task's store and no repartition is needed. exactly_once_v2 makes the store updates, the output
 * and the input offsets one transaction; the dedup store makes a job count once even if its usage
 * event was published twice.
 */
public final class UsageTopology {
  public static final String SEEN_STORE = "usage-seen-event-ids";
  public static final String ROLLUP_STORE = "usage-rollups";
  public static final String PLAN_STORE = "account-plans";

  private UsageTopology() {}

  public static Topology build(Duration dedupeRetention, Duration lateGrace, PriceList prices) {
    StreamsBuilder builder = new StreamsBuilder();
    JsonSerde<UsageRollup> rollupSerde = new JsonSerde<>(UsageRollup.class);
    JsonSerde<UsageEvent> usageSerde = new JsonSerde<>(UsageEvent.class);
    JsonSerde<AccountPlan> planSerde = new JsonSerde<>(AccountPlan.class);
    builder.addStateStore(
        Stores.keyValueStoreBuilder(
            Stores.persistentKeyValueStore(SEEN_STORE), Serdes.String(), Serdes.Long()));
    builder.addStateStore(
        Stores.keyValueStoreBuilder(
                Stores.persistentKeyValueStore(ROLLUP_STORE),
                Serdes.String(),
                new RollupStoreSerde())
            // Folds a key's updates until the next commit: one changelog record and one output
            // record per rollup per commit instead of per event (see Rollups).
            .withCachingEnabled());
    GlobalKTable<String, AccountPlan> plans =
        builder.globalTable(
            Topics.ACCOUNTS.name(),
            Consumed.with(Serdes.String(), planSerde),
            Materialized.<String, AccountPlan, KeyValueStore<Bytes, byte[]>>as(PLAN_STORE)
                .withKeySerde(Serdes.String())
                .withValueSerde(planSerde));
    builder.stream(Topics.USAGE.name(), Consumed.with(Serdes.String(), usageSerde))
        .filter((k, v) -> v != null)
        .process(() -> new Dedupe(dedupeRetention), SEEN_STORE)
        .leftJoin(plans, (account, e) -> e.accountId(), Billed::new)
        .process(() -> new Rollups(lateGrace, prices), ROLLUP_STORE)
        // The output, read by other services, is the JSON contract; the store is binary.
        .to(Topics.USAGE_ROLLUPS.name(), Produced.with(Serdes.String(), rollupSerde));
    return builder.build();
  }

  /** A usage event with its account's plans (null: never set, so pay-as-you-go). */
  record Billed(UsageEvent event, AccountPlan plans) {}

  /** Forwards each event id once; remembers ids for the retention period. */
  static final class Dedupe implements Processor<String, UsageEvent, String, UsageEvent> {
    private final Duration retention;
    private ProcessorContext<String, UsageEvent> context;
    private KeyValueStore<String, Long> seen;

    Dedupe(Duration retention) {
      this.retention = retention;
    }

    @Override
    public void init(ProcessorContext<String, UsageEvent> context) {
      this.context = context;
      this.seen = context.getStateStore(SEEN_STORE);
      context.schedule(Duration.ofMinutes(10), PunctuationType.WALL_CLOCK_TIME, this::expire);
    }

    @Override
    public void process(Record<String, UsageEvent> record) {
      String id = record.value().eventId();
      if (seen.get(id) != null) {
        return;
      }
      seen.put(id, record.timestamp());
      context.forward(record);
    }

    private void expire(long now) {
      long cutoff = now - retention.toMillis();
      try (KeyValueIterator<String, Long> it = seen.all()) {
        while (it.hasNext()) {
          var kv = it.next();
          if (kv.value < cutoff) {
            seen.delete(kv.key);
          }
        }
      }
    }
  }

  /**
   * Adds each event to its hour, day and month rollups (or the current ones, when very late).
   *
   * <p>Rollups are cumulative, so only a key's latest value per commit matters downstream (the
   * topic is compacted and the sink keeps the newest). The store is cached and its flush listener
   * forwards each dirty key once, when Streams flushes the cache as part of the commit: the output
   * records join the same transaction as the changelog and the input offsets, exactly as the DSL's
   * cached KTable aggregations do. That is the DSL's own mechanism ({@code WrappedStateStore
   * #setFlushListener}), which the Processor API does not expose publicly; if the store is not
   * cached (cache size 0) the listener is refused and every update is forwarded at once instead.
   * The integration and topology tests cover both forms.
   */
  static final class Rollups implements Processor<String, Billed, String, UsageRollup> {
    private final Duration grace;
    private final PriceList prices;
    private ProcessorContext<String, UsageRollup> context;
    private KeyValueStore<String, UsageRollup> store;
    private boolean forwardOnFlush;

    Rollups(Duration grace, PriceList prices) {
      this.grace = grace;
      this.prices = prices;
    }

    @Override
    public void init(ProcessorContext<String, UsageRollup> context) {
      this.context = context;
      this.store = context.getStateStore(ROLLUP_STORE);
      this.forwardOnFlush = FlushForwarder.attach(context, store);
    }

    @Override
    public void process(Record<String, Billed> record) {
      UsageEvent e = record.value().event();
      AccountPlan plans = record.value().plans();
      LocalDate day = LocalDate.ofInstant(e.occurredAt(), ZoneOffset.UTC);
      AccountPlan.PlanKind plan =
          plans == null ? AccountPlan.PlanKind.PAYG : plans.planOn(e.product(), day);
      Instant arrived = Instant.ofEpochMilli(record.timestamp());
      for (UsageRollup.Period period : UsageRollup.Period.values()) {
        Instant start = period.start(e.occurredAt());
        boolean late = arrived.isAfter(period.end(start).plus(grace));
        Instant billedIn = late ? period.start(arrived) : start;
        String key =
            late
                ? UsageRollup.adjustmentKey(e.accountId(), e.product(), period, billedIn, plan)
                : UsageRollup.key(e.accountId(), e.product(), period, billedIn);
        UsageRollup current = store.get(key);
        if (current == null) {
          current = UsageRollup.empty(e.accountId(), e.product(), period, billedIn, plan, late);
        }
        UsageRollup next = current.add(e, prices);
        store.put(key, next);
        if (!forwardOnFlush) {
          context.forward(record.withKey(key).withValue(next));
        }
      }
    }
  }
}
