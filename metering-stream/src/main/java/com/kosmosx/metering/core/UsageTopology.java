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
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.KStream;
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
 * kosmos.usage.v1 (key account) -> dedupe by event id (= job id) --+
 * kosmos.accounts.v1 (key account: the plan schedule) -------------+-> Rollups
 *   usage: add the event to its UTC hour, day and month under the plan in force on its day
 *   plan:  keep the schedule; re-price every rollup of the account whose plan it changes
 *   -> kosmos.usage-rollups.v1 (compacted; key account|product|period|start)
 * </pre>
 *
 * <p>Both inputs are keyed by account and have the same partition count (every topic is created
 * with one count), so an account's usage, its plan and all its rollups live in one task: the plan
 * is a local store, not a global table, precisely so that a plan change can reach the rollups it
 * re-prices. A month's amounts are a pure function of its units and its plan ({@link
 * UsageRollup#priced}), so the result is the same whichever of an event and a plan change arrives
 * first: one month, one plan, in the rollups as in the invoice.
 *
 * <p>Every event counts in its own periods, however late it arrives: rollups are never closed here.
 * Freezing a month is the invoice's business (a closed month's later usage becomes an adjustment on
 * the next open invoice). exactly_once_v2 makes the store updates, the output and the input offsets
 * one transaction; the dedup store makes a job count once even if its usage event was published
 * twice.
 */
public final class UsageTopology {
  public static final String SEEN_STORE = "usage-seen-event-ids";
  public static final String ROLLUP_STORE = "usage-rollups";
  public static final String PLAN_STORE = "account-plans";

  private UsageTopology() {}

  public static Topology build(Duration dedupeRetention, PriceList prices) {
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
    builder.addStateStore(
        Stores.keyValueStoreBuilder(
            Stores.persistentKeyValueStore(PLAN_STORE), Serdes.String(), planSerde));
    KStream<String, Input> usage =
        builder.stream(Topics.USAGE.name(), Consumed.with(Serdes.String(), usageSerde))
            .filter((k, v) -> v != null)
            .process(() -> new Dedupe(dedupeRetention), SEEN_STORE)
            .mapValues(Input::usage);
    KStream<String, Input> plans =
        builder.stream(Topics.ACCOUNTS.name(), Consumed.with(Serdes.String(), planSerde))
            .filter((k, v) -> k != null)
            .mapValues((k, v) -> Input.plan(k, v));
    usage
        .merge(plans)
        .process(() -> new Rollups(prices), ROLLUP_STORE, PLAN_STORE)
        // The output, read by other services, is the JSON contract; the store is binary.
        .to(Topics.USAGE_ROLLUPS.name(), Produced.with(Serdes.String(), rollupSerde));
    return builder.build();
  }

  /**
   * One input of the rollups: a usage event, or an account's plan schedule (null plan: removed, so
   * pay-as-you-go throughout).
   */
  record Input(UsageEvent event, String account, AccountPlan plan) {
    static Input usage(UsageEvent e) {
      return new Input(e, null, null);
    }

    static Input plan(String account, AccountPlan plan) {
      return new Input(null, account, plan);
    }
  }

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
   * Adds each event to its hour, day and month rollups; re-prices an account's rollups when its
   * plan schedule changes.
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
  static final class Rollups implements Processor<String, Input, String, UsageRollup> {
    private final PriceList prices;
    private ProcessorContext<String, UsageRollup> context;
    private KeyValueStore<String, UsageRollup> store;
    private KeyValueStore<String, AccountPlan> plans;
    private boolean forwardOnFlush;

    Rollups(PriceList prices) {
      this.prices = prices;
    }

    @Override
    public void init(ProcessorContext<String, UsageRollup> context) {
      this.context = context;
      this.store = context.getStateStore(ROLLUP_STORE);
      this.plans = context.getStateStore(PLAN_STORE);
      this.forwardOnFlush = FlushForwarder.attach(context, store);
    }

    @Override
    public void process(Record<String, Input> record) {
      Input in = record.value();
      if (in.event() != null) {
        add(record, in.event());
      } else {
        replan(record, in.account(), in.plan());
      }
    }

    private void add(Record<String, Input> record, UsageEvent e) {
      AccountPlan schedule = plans.get(e.accountId());
      LocalDate day = LocalDate.ofInstant(e.occurredAt(), ZoneOffset.UTC);
      AccountPlan.PlanKind plan =
          schedule == null ? AccountPlan.PlanKind.PAYG : schedule.planOn(e.product(), day);
      for (UsageRollup.Period period : UsageRollup.Period.values()) {
        Instant start = period.start(e.occurredAt());
        String key = UsageRollup.key(e.accountId(), e.product(), period, start);
        UsageRollup current = store.get(key);
        if (current == null) {
          current = UsageRollup.empty(e.accountId(), e.product(), period, start, plan, false);
        } else if (current.plan() != plan) {
          current = current.priced(plan, prices);
        }
        put(record, key, current.add(e, prices));
      }
    }

    /** Keeps the schedule and re-prices each of the account's rollups whose plan it changes. */
    private void replan(Record<String, Input> record, String account, AccountPlan schedule) {
      if (schedule == null) {
        plans.delete(account);
      } else {
        plans.put(account, schedule);
      }
      List<KeyValue<String, UsageRollup>> changed = new ArrayList<>();
      try (KeyValueIterator<String, UsageRollup> it =
          store.prefixScan(account + "|", Serdes.String().serializer())) {
        while (it.hasNext()) {
          KeyValue<String, UsageRollup> kv = it.next();
          UsageRollup r = kv.value;
          if (r.adjustment()) {
            continue; // written by an older version in the period it arrived in: left as billed
          }
          AccountPlan.PlanKind plan =
              schedule == null ? AccountPlan.PlanKind.PAYG : schedule.planOn(r.product(), r.day());
          if (r.plan() != plan) {
            changed.add(KeyValue.pair(kv.key, r.priced(plan, prices)));
          }
        }
      }
      for (KeyValue<String, UsageRollup> kv : changed) {
        put(record, kv.key, kv.value);
      }
    }

    private void put(Record<String, Input> record, String key, UsageRollup next) {
      store.put(key, next);
      if (!forwardOnFlush) {
        context.forward(record.withKey(key).withValue(next));
      }
    }
  }
}
