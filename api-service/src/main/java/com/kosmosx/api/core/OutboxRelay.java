package com.kosmosx.api.core;

import com.kosmosx.api.db.OutboxDao;
import com.kosmosx.api.db.OutboxDao.OutboxRow;
import io.dropwizard.lifecycle.Managed;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.jdbi.v3.core.Jdbi;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Moves outbox rows to Kafka. Claims a batch with {@code FOR UPDATE SKIP LOCKED}, sends it with an
 * idempotent producer, waits for every acknowledgement (acks=all), then deletes the rows in the
 * same transaction. A crash between send and delete re-sends: delivery is at least once, and the
 * worker, the projection and metering all deduplicate by job id.
 *
 * <p>While Kafka is down the rows simply wait; the API keeps accepting jobs.
 */
public final class OutboxRelay implements Managed {
  private static final Logger LOG = LoggerFactory.getLogger(OutboxRelay.class);

  private final Jdbi jdbi;
  private final Supplier<Producer<String, byte[]>> producerFactory;
  private final int batchSize;
  private final Duration pollInterval;
  private final Backoff backoff;
  private final Semaphore wakeUp = new Semaphore(0);
  private volatile boolean running;
  private Thread thread;
  private Producer<String, byte[]> producer;

  public OutboxRelay(
      Jdbi jdbi,
      Supplier<Producer<String, byte[]>> producerFactory,
      int batchSize,
      Duration pollInterval,
      Backoff backoff) {
    this.jdbi = jdbi;
    this.producerFactory = producerFactory;
    this.batchSize = batchSize;
    this.pollInterval = pollInterval;
    this.backoff = backoff;
  }

  /** Called after a commit so a new job leaves at once instead of at the next poll. */
  public void wakeUp() {
    if (wakeUp.availablePermits() == 0) {
      wakeUp.release();
    }
  }

  @Override
  public void start() {
    running = true;
    thread = new Thread(this::loop, "outbox-relay");
    thread.setDaemon(true);
    thread.start();
  }

  @Override
  public void stop() throws InterruptedException {
    running = false;
    wakeUp.release();
    if (thread != null) {
      thread.join(TimeUnit.SECONDS.toMillis(30));
    }
    closeProducer();
  }

  private void loop() {
    int failures = 0;
    while (running) {
      try {
        int sent = relayOnce();
        failures = 0;
        if (sent < batchSize) {
          wakeUp.tryAcquire(pollInterval.toMillis(), TimeUnit.MILLISECONDS);
          wakeUp.drainPermits();
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      } catch (RuntimeException e) {
        failures++;
        Duration wait = backoff.delay(failures);
        if (failures == 1 || failures % 20 == 0) {
          LOG.warn(
              "outbox relay failed {} time(s), retrying in {} ms: {}",
              failures,
              wait.toMillis(),
              e.toString());
        }
        // A producer that saw an error may be in a fatal state: start clean.
        closeProducer();
        sleep(wait);
      }
    }
  }

  /** Relays one batch; returns how many rows left the outbox. */
  int relayOnce() {
    return jdbi.inTransaction(
        h -> {
          OutboxDao dao = h.attach(OutboxDao.class);
          List<OutboxRow> rows = dao.claim(batchSize);
          if (rows.isEmpty()) {
            return 0;
          }
          Producer<String, byte[]> p = producer();
          List<Future<RecordMetadata>> acks = new ArrayList<>(rows.size());
          for (OutboxRow row : rows) {
            acks.add(p.send(new ProducerRecord<>(row.topic(), row.msgKey(), row.payload())));
          }
          p.flush();
          for (Future<RecordMetadata> ack : acks) {
            try {
              ack.get();
            } catch (java.util.concurrent.ExecutionException e) {
              throw new IllegalStateException("Kafka refused an outbox message", e.getCause());
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
              throw new IllegalStateException("interrupted while relaying", e);
            }
          }
          dao.delete(rows.stream().map(OutboxRow::id).toList());
          return rows.size();
        });
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
      try {
        producer.close(Duration.ofSeconds(5));
      } catch (RuntimeException e) {
        LOG.debug("closing the outbox producer failed", e);
      }
      producer = null;
    }
  }

  private static void sleep(Duration d) {
    try {
      Thread.sleep(d.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Producer settings for the relay: idempotent, acks=all, bounded blocking when Kafka is down. */
  public static Map<String, Object> producerConfig(String bootstrapServers, String clientId) {
    return Map.of(
        "bootstrap.servers",
        bootstrapServers,
        "client.id",
        clientId,
        "acks",
        "all",
        "enable.idempotence",
        true,
        "linger.ms",
        1,
        // Fail a batch in seconds when the broker is away, so the relay backs off and retries
        // from the outbox instead of holding a database transaction for minutes.
        "max.block.ms",
        5_000,
        "request.timeout.ms",
        5_000,
        "delivery.timeout.ms",
        10_000);
  }
}
