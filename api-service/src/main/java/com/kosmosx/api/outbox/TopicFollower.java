package com.kosmosx.api.outbox;

import com.kosmosx.runtime.BackgroundLoop;
import com.kosmosx.runtime.Clients;
import com.kosmosx.runtime.Failures;
import com.kosmosx.runtime.Loop;
import com.kosmosx.runtime.Quarantine;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A consumer-group loop, on the {@link Loop} runtime, that applies each polled batch to PostgreSQL
 * and commits the offsets after (at most once a second): at-least-once, so applying must be
 * idempotent.
 *
 * <p>A poll is applied in one transaction. If that fails, its records are applied one by one: a
 * record that cannot be read, that the database refuses for its data, or that fails alone {@link
 * #STRIKES} times in a row is quarantined with its reason and bytes, and the rest flow. Any other
 * failure is the peer's: the runtime drops the consumer, backs off, and a new one resumes from the
 * committed offsets.
 */
public abstract class TopicFollower<T> extends BackgroundLoop {
  private static final Logger LOG = LoggerFactory.getLogger(TopicFollower.class);
  static final int STRIKES = 3;

  private final String name;
  private final String topic;
  private final Supplier<Consumer<String, byte[]>> consumers;
  private final Quarantine quarantine;
  private volatile Consumer<String, byte[]> consumer;
  private String strikeSource;
  private int strikes;

  protected TopicFollower(
      String name,
      String topic,
      Supplier<Consumer<String, byte[]>> consumers,
      Loop.Settings settings,
      Quarantine quarantine) {
    super(name, settings);
    this.name = name;
    this.topic = topic;
    this.consumers = consumers;
    this.quarantine = quarantine;
  }

  /** The record's value, or null when there is nothing to apply; throws if it cannot be read. */
  protected abstract T decode(ConsumerRecord<String, byte[]> record);

  /** Applies a poll's values in one transaction. */
  protected abstract void applyAll(List<T> values);

  /** Applies one value in its own transaction. */
  protected abstract void applyOne(T value);

  /** After a record was applied (for logging it with its trace); must not throw. */
  protected void applied(ConsumerRecord<String, byte[]> record, T value) {}

  @Override
  public boolean round() {
    Consumer<String, byte[]> c = consumer;
    if (c == null) {
      c = consumers.get();
      consumer = c;
      c.subscribe(List.of(topic));
    }
    // Records end the poll at once; the timeout only sets how often an idle loop turns.
    ConsumerRecords<String, byte[]> records = c.poll(Duration.ofSeconds(2));
    if (!records.isEmpty()) {
      apply(records);
      uncommitted = true;
    }
    // Offsets go to Kafka at most once a second (and at once after a record was set aside): every
    // apply is idempotent, so what a crash re-reads changes nothing twice, and at 25 jobs/s a
    // commit per poll was one offset commit per job on the broker (./kosmos bench, docs/perf).
    if (uncommitted
        && (setAsideSinceCommit || System.nanoTime() - lastCommitNanos >= COMMIT_EVERY.toNanos())) {
      c.commitSync(Duration.ofSeconds(30));
      uncommitted = false;
      setAsideSinceCommit = false;
      lastCommitNanos = System.nanoTime();
    }
    return true;
  }

  /** How often a follower commits its offsets while records flow. */
  static final Duration COMMIT_EVERY = Duration.ofSeconds(1);

  private boolean uncommitted;
  private boolean setAsideSinceCommit;
  private long lastCommitNanos = System.nanoTime();

  @Override
  public void interrupt() {
    Consumer<String, byte[]> c = consumer;
    if (c != null) {
      c.wakeup();
    }
  }

  @Override
  public void reset() {
    Consumer<String, byte[]> c = consumer;
    consumer = null;
    Clients.close(c, name + "'s consumer");
  }

  /** Applies a poll: whole, or record by record with quarantine when whole fails. */
  public void apply(Iterable<ConsumerRecord<String, byte[]>> records) {
    List<ConsumerRecord<String, byte[]>> readable = new ArrayList<>();
    List<T> values = new ArrayList<>();
    for (ConsumerRecord<String, byte[]> r : records) {
      T v;
      try {
        v = decode(r);
      } catch (RuntimeException e) {
        setAside(r, "unreadable: " + Failures.describe(e));
        continue;
      }
      if (v != null) {
        readable.add(r);
        values.add(v);
      }
    }
    if (values.isEmpty()) {
      return;
    }
    try {
      applyAll(values);
      for (int i = 0; i < values.size(); i++) {
        applied(readable.get(i), values.get(i));
      }
      return;
    } catch (RuntimeException e) {
      if (Failures.fatal(e)) {
        throw e;
      }
      LOG.warn(
          "{}: a poll of {} failed whole, applying one by one: {}",
          name,
          values.size(),
          e.toString());
    }
    for (int i = 0; i < values.size(); i++) {
      ConsumerRecord<String, byte[]> r = readable.get(i);
      try {
        applyOne(values.get(i));
        applied(r, values.get(i));
      } catch (RuntimeException e) {
        String source = source(r);
        if (Failures.poison(e)) {
          setAside(r, "refused: " + Failures.describe(e));
          continue;
        }
        strikes = source.equals(strikeSource) ? strikes + 1 : 1;
        strikeSource = source;
        if (strikes >= STRIKES && !Failures.fatal(e)) {
          setAside(r, "failed " + strikes + " times alone: " + Failures.describe(e));
          strikes = 0;
          strikeSource = null;
          continue;
        }
        throw e;
      }
    }
  }

  private void setAside(ConsumerRecord<String, byte[]> r, String reason) {
    setAsideSinceCommit = true;
    quarantine.put(
        new Quarantine.Poison(
            name,
            source(r),
            r.topic(),
            r.key(),
            reason,
            r.value() == null ? new byte[0] : r.value()));
  }

  private static String source(ConsumerRecord<String, byte[]> r) {
    return r.topic() + "-" + r.partition() + "@" + r.offset();
  }
}
