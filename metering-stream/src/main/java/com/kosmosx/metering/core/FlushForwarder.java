package com.kosmosx.metering.core;

import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.internals.InternalProcessorContext;
import org.apache.kafka.streams.processor.internals.ProcessorNode;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.internals.WrappedStateStore;

/**
 * Forwards a cached store's entries downstream when Streams flushes its cache (on commit, or when
 * the cache evicts), the way the DSL's cached KTables emit. Streams calls the listener outside
 * {@code process()}, so it sets the processor's own node as the current one while forwarding, as
 * the DSL's {@code TimestampedCacheFlushListener} does.
 *
 * <p>This reaches into Kafka Streams internals (pinned by the parent POM's kafka.version); the
 * topology tests fail loudly if an upgrade changes them, because no rollup would reach the output.
 */
final class FlushForwarder {
  private FlushForwarder() {}

  /** Returns false (and attaches nothing) if the store is not cached. */
  @SuppressWarnings({"unchecked", "rawtypes"})
  static <V> boolean attach(ProcessorContext<String, V> context, KeyValueStore<String, V> store) {
    if (!(store instanceof WrappedStateStore<?, ?, ?> wrapped)
        || !(context instanceof InternalProcessorContext<?, ?>)) {
      return false;
    }
    InternalProcessorContext<String, V> internal = (InternalProcessorContext<String, V>) context;
    ProcessorNode<?, ?, ?, ?> node = internal.currentNode();
    return ((WrappedStateStore) wrapped)
        .setFlushListener(
            record -> {
              var flushed = (org.apache.kafka.streams.processor.api.Record<String, Object>) record;
              var change = (org.apache.kafka.streams.kstream.internals.Change<V>) flushed.value();
              if (change.newValue == null) {
                return; // rollups are never deleted; nothing to emit for a removal
              }
              ProcessorNode<?, ?, ?, ?> previous = internal.currentNode();
              internal.setCurrentNode(node);
              try {
                internal.forward(flushed.withValue(change.newValue));
              } finally {
                internal.setCurrentNode(previous);
              }
            },
            false);
  }
}
