package com.kosmosx.metering.core;

import com.kosmosx.contracts.JsonSerde;
import com.kosmosx.contracts.Topics;
import com.kosmosx.contracts.UsageEvent;
import com.kosmosx.contracts.UsageRollup;
import java.time.Duration;
import java.time.LocalDate;
import java.time.ZoneOffset;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
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
 * Usage events to cumulative per-account, per-product, per-UTC-day totals.
 *
 * <pre>
 * kosmos.usage.v1 (key account) -> dedupe by event id (= job id) -> key account|product|day
 *   -> aggregate UsageRollup -> kosmos.usage-rollups.v1 (compacted)
 * </pre>
 *
 * Deduplication makes a job count once even if it was published twice; exactly_once_v2 makes the
 * store updates, the output and the input offsets one transaction.
 */
public final class UsageTopology {
  public static final String SEEN_STORE = "usage-seen-event-ids";
  public static final String ROLLUP_STORE = "usage-daily-rollups";

  private UsageTopology() {}

  public static Topology build(Duration dedupeRetention) {
    StreamsBuilder builder = new StreamsBuilder();
    builder.addStateStore(
        Stores.keyValueStoreBuilder(
            Stores.persistentKeyValueStore(SEEN_STORE), Serdes.String(), Serdes.Long()));
    JsonSerde<UsageRollup> rollupSerde = new JsonSerde<>(UsageRollup.class);
    JsonSerde<UsageEvent> usageSerde = new JsonSerde<>(UsageEvent.class);
    builder.stream(Topics.USAGE.name(), Consumed.with(Serdes.String(), usageSerde))
        .filter((k, v) -> v != null)
        .process(() -> new Dedupe(dedupeRetention), SEEN_STORE)
        .groupBy(
            (account, e) -> UsageRollup.key(e.accountId(), e.product(), day(e)),
            Grouped.with("usage-by-day", Serdes.String(), usageSerde))
        .aggregate(
            () -> null,
            (key, e, total) ->
                (total == null ? UsageRollup.empty(e.accountId(), e.product(), day(e)) : total)
                    .add(e),
            Materialized
                .<String, UsageRollup, KeyValueStore<org.apache.kafka.common.utils.Bytes, byte[]>>
                    as(ROLLUP_STORE)
                .withKeySerde(Serdes.String())
                .withValueSerde(rollupSerde))
        .toStream()
        .to(Topics.USAGE_ROLLUPS.name(), Produced.with(Serdes.String(), rollupSerde));
    return builder.build();
  }

  static LocalDate day(UsageEvent e) {
    return LocalDate.ofInstant(e.occurredAt(), ZoneOffset.UTC);
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
}
