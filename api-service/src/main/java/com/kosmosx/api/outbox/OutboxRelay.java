package com.kosmosx.api.outbox;

import com.kosmosx.api.db.OutboxDao;
import com.kosmosx.api.db.OutboxDao.OutboxRow;
import com.kosmosx.api.jobs.JobWaiters;
import com.kosmosx.api.quarantine.QuarantineStore;
import com.kosmosx.runtime.BackgroundLoop;
import com.kosmosx.runtime.Backoff;
import com.kosmosx.runtime.Clients;
import com.kosmosx.runtime.Failures;
import com.kosmosx.runtime.KafkaSettings;
import com.kosmosx.runtime.Loop;
import com.kosmosx.runtime.Quarantine;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaException;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.Jdbi;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Moves outbox rows to Kafka. Claims a batch with {@code FOR UPDATE SKIP LOCKED}, sends it with an
 * idempotent producer, waits for every acknowledgement (acks=all, each within the producer's
 * delivery deadline), then deletes the rows in the same transaction. A crash between send and
 * delete re-sends: delivery is at least once, and the worker, the projection and metering all
 * deduplicate by job id.
 *
 * <p>While Kafka is down (every row refused, nothing taken lately) the rows simply wait and the
 * loop backs off; the API keeps accepting jobs. A row Kafka refuses while it takes others (a lane
 * topic that does not exist, a message it will not store) is one row's fault: it is retried on its
 * own backoff, rows behind it flow, and after {@code maxAttempts} (at once if the refusal can never
 * pass) it is quarantined and, if it carried a job, the job ends {@code failed} with {@code
 * undeliverable} instead of waiting forever.
 */
public final class OutboxRelay extends BackgroundLoop {
  private static final Logger LOG = LoggerFactory.getLogger(OutboxRelay.class);
  public static final String LOOP = "outbox-relay";

  /** Kafka took something this recently: it is up, so a row it refuses is that row's fault. */
  static final Duration BROKER_UP_WINDOW = Duration.ofSeconds(30);

  private final Jdbi jdbi;
  private final Clock clock;
  private final Supplier<Producer<String, byte[]>> producerFactory;
  private final int batchSize;
  private final int maxAttempts;
  private final Backoff rowBackoff;
  private final QuarantineStore quarantine;
  private volatile long lastPublishedNanos = System.nanoTime() - BROKER_UP_WINDOW.toNanos() - 1;
  private Producer<String, byte[]> producer;

  public OutboxRelay(
      Jdbi jdbi,
      Clock clock,
      Supplier<Producer<String, byte[]>> producerFactory,
      int batchSize,
      Duration pollInterval,
      Backoff backoff,
      int maxAttempts,
      Duration retryAfter,
      QuarantineStore quarantine) {
    super(LOOP, Loop.Settings.of(pollInterval).withBackoff(backoff));
    this.jdbi = jdbi;
    this.clock = clock;
    this.producerFactory = producerFactory;
    this.batchSize = batchSize;
    this.maxAttempts = maxAttempts;
    this.rowBackoff = new Backoff(retryAfter, Duration.ofMinutes(1));
    this.quarantine = quarantine;
  }

  /** Called after a commit so a new job leaves at once instead of at the next poll. */
  public void wakeUp() {
    loop().wakeUp();
  }

  @Override
  public boolean round() {
    return relayOnce() >= batchSize;
  }

  @Override
  public void reset() {
    closeProducer(); // a producer that saw an error may be in a fatal state: start clean
  }

  /** A round's result: rows that left the outbox, and a failure that is nobody's row's fault. */
  private record Result(int sent, RuntimeException transientFailure) {}

  /** Relays one batch; returns how many rows left the outbox (sent or quarantined). */
  int relayOnce() {
    Result r =
        jdbi.inTransaction(
            h -> {
              OutboxDao dao = h.attach(OutboxDao.class);
              List<OutboxRow> rows = dao.claim(batchSize, clock.instant());
              if (rows.isEmpty()) {
                return new Result(0, null);
              }
              Map<OutboxRow, Throwable> refused = publish(rows);
              List<Long> sent =
                  rows.stream()
                      .filter(row -> !refused.containsKey(row))
                      .map(OutboxRow::id)
                      .toList();
              if (!sent.isEmpty()) {
                dao.delete(sent);
                lastPublishedNanos = System.nanoTime();
              }
              if (refused.isEmpty()) {
                return new Result(sent.size(), null);
              }
              boolean brokerUp =
                  System.nanoTime() - lastPublishedNanos < BROKER_UP_WINDOW.toNanos();
              boolean anyPoison = refused.values().stream().anyMatch(Failures::poison);
              if (!brokerUp && !anyPoison) {
                // Kafka took nothing: it is away, not these rows' fault. They wait, untouched.
                Throwable first = refused.values().iterator().next();
                return new Result(
                    sent.size(),
                    new IllegalStateException(
                        "Kafka refused " + refused.size() + " outbox message(s)", first));
              }
              int left = sent.size();
              for (Map.Entry<OutboxRow, Throwable> e : refused.entrySet()) {
                if (setAside(h, dao, e.getKey(), e.getValue(), brokerUp)) {
                  left++;
                }
              }
              return new Result(left, null);
            });
    if (r.transientFailure() != null) {
      throw r.transientFailure();
    }
    return r.sent();
  }

  /** Sends every row; returns the rows Kafka refused, with why. */
  private Map<OutboxRow, Throwable> publish(List<OutboxRow> rows) {
    Producer<String, byte[]> p = producer();
    List<Future<RecordMetadata>> acks = new ArrayList<>(rows.size());
    for (OutboxRow row : rows) {
      try {
        ProducerRecord<String, byte[]> record =
            new ProducerRecord<>(row.topic(), row.msgKey(), row.payload());
        com.kosmosx.runtime.Tracing.addTo(record.headers(), row.traceId());
        acks.add(p.send(record));
      } catch (KafkaException e) {
        acks.add(CompletableFuture.failedFuture(e));
      }
    }
    p.flush();
    Map<OutboxRow, Throwable> refused = new LinkedHashMap<>();
    for (int i = 0; i < rows.size(); i++) {
      try {
        // Bounded by the producer's delivery timeout; flush() has returned, so this is prompt.
        acks.get(i).get(30, TimeUnit.SECONDS);
      } catch (ExecutionException e) {
        refused.put(rows.get(i), e.getCause() == null ? e : e.getCause());
      } catch (java.util.concurrent.TimeoutException e) {
        refused.put(rows.get(i), e);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while relaying", e);
      }
    }
    return refused;
  }

  /**
   * Counts one refusal of a row: retried later on its own backoff, or quarantined when it can never
   * pass or has used its attempts. Returns true when the row left the outbox.
   */
  private boolean setAside(
      Handle h, OutboxDao dao, OutboxRow row, Throwable why, boolean brokerUp) {
    int attempts = row.attempts() + 1;
    String reason = Failures.describe(why);
    if (Failures.poison(why) || (brokerUp && attempts >= maxAttempts)) {
      quarantine.put(
          h,
          new Quarantine.Poison(
              LOOP,
              "outbox:" + row.id(),
              row.topic(),
              row.msgKey(),
              "Kafka refused it " + attempts + " time(s) while taking other messages: " + reason,
              row.payload()));
      dao.delete(List.of(row.id()));
      if (row.topic().startsWith("kosmos.jobs.") && row.msgKey() != null) {
        endUndeliverable(h, row.msgKey(), row.topic());
      }
      return true;
    }
    Instant next = clock.instant().plus(rowBackoff.delay(attempts));
    dao.retryLater(row.id(), attempts, next, reason);
    LOG.warn(
        "outbox row {} for {} refused ({} of {} attempts), next at {}: {}",
        row.id(),
        row.topic(),
        attempts,
        maxAttempts,
        next,
        reason);
    return false;
  }

  /** The job will not reach a worker: it ends now with a code that says so, unbilled. */
  private void endUndeliverable(Handle h, String jobId, String topic) {
    int changed =
        h.createUpdate(
                "UPDATE jobs SET status = 'failed', error_code = 'undeliverable', error_message ="
                    + " :message, completed_at = :now WHERE id = :id AND status IN ('queued',"
                    + " 'running')")
            .bind(
                "message",
                "The job could not be handed to a worker (Kafka refused its message for "
                    + topic
                    + "). It was not run and is not billed; an operator can replay it.")
            .bind("now", clock.instant())
            .bind("id", jobId)
            .execute();
    if (changed > 0) {
      h.createQuery("SELECT pg_notify(:channel, :id)")
          .bind("channel", JobWaiters.CHANNEL)
          .bind("id", jobId)
          .mapTo(String.class)
          .findOne();
    }
  }

  /**
   * Takes a quarantined message back: into the outbox again, its job queued again (with a fresh
   * deadline, see {@link DeadLetters#requeued}).
   */
  public void replay(Handle h, QuarantineStore.Entry e, Duration jobDeadline) {
    Instant deadline = clock.instant().plus(jobDeadline);
    byte[] payload = DeadLetters.requeued(e.topic(), e.payload(), deadline);
    h.attach(OutboxDao.class).insert(e.topic(), e.key(), payload);
    if (e.key() != null) {
      h.createUpdate(
              "UPDATE jobs SET status = 'queued', error_code = NULL, error_message = NULL,"
                  + " completed_at = NULL, deadline_at = :deadline WHERE id = :id"
                  + " AND status = 'failed' AND error_code = 'undeliverable'")
          .bind("id", e.key())
          .bind("deadline", deadline)
          .execute();
    }
  }

  public long pending() {
    return jdbi.withExtension(OutboxDao.class, OutboxDao::pending);
  }

  private synchronized Producer<String, byte[]> producer() {
    if (producer == null) {
      producer = producerFactory.get();
    }
    return producer;
  }

  private synchronized void closeProducer() {
    if (producer != null) {
      Clients.close(producer, "the outbox producer");
      producer = null;
    }
  }

  /** Producer settings for the relay: idempotent, acks=all, bounded blocking when Kafka is down. */
  public static Map<String, Object> producerConfig(String bootstrapServers, String clientId) {
    return KafkaSettings.reliableProducer(bootstrapServers, clientId);
  }
}
