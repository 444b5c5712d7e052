package com.kosmosx.api.core;

import io.dropwizard.lifecycle.Managed;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.common.errors.WakeupException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A consumer-group loop that applies each polled batch to PostgreSQL and commits the offsets after:
 * at-least-once, so {@link #apply} must be idempotent. On an error the consumer is closed and a new
 * one resumes from the committed offsets after a backoff; stop wakes a blocked poll and closes
 * within bounded time even with the broker away.
 */
abstract class TopicFollower implements Managed {
  private static final Logger LOG = LoggerFactory.getLogger(TopicFollower.class);

  private final String name;
  private final String topic;
  private final Supplier<Consumer<String, byte[]>> consumers;
  private final Backoff backoff;
  private volatile boolean running;
  private volatile Consumer<String, byte[]> consumer;
  private Thread thread;

  TopicFollower(
      String name, String topic, Supplier<Consumer<String, byte[]>> consumers, Backoff backoff) {
    this.name = name;
    this.topic = topic;
    this.consumers = consumers;
    this.backoff = backoff;
  }

  /** Applies one batch; called again with the same records after a failure. */
  protected abstract void apply(ConsumerRecords<String, byte[]> records);

  @Override
  public void start() {
    running = true;
    thread = new Thread(this::loop, name);
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
      thread.join(TimeUnit.SECONDS.toMillis(30));
    }
  }

  private void loop() {
    int failures = 0;
    while (running) {
      Consumer<String, byte[]> c = consumers.get();
      try {
        consumer = c;
        c.subscribe(List.of(topic));
        while (running) {
          ConsumerRecords<String, byte[]> records = c.poll(Duration.ofMillis(500));
          if (records.isEmpty()) {
            continue;
          }
          apply(records);
          c.commitSync();
          failures = 0;
        }
      } catch (WakeupException e) {
        return;
      } catch (RuntimeException e) {
        failures++;
        LOG.warn("{} failed ({}), restarting its consumer: {}", name, failures, e.toString());
        try {
          Thread.sleep(backoff.delay(failures).toMillis());
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
          return;
        }
      } finally {
        consumer = null;
        // Bounded: a shutdown must not wait the default 30 s for a broker that is away.
        c.close(Duration.ofSeconds(5));
      }
    }
  }
}
