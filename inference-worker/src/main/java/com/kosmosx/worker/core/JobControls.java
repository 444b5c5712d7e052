package com.kosmosx.worker.core;

import com.kosmosx.contracts.JobControl;
import com.kosmosx.contracts.Topics;
import io.dropwizard.lifecycle.Managed;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Every worker's view of the cancel requests: it reads the whole (compacted) job-control topic
 * without a consumer group, from the beginning, and keeps following it. A job whose id is here is
 * not started, and a running one stops at its next decode step. Job loops wait at start until the
 * topic has been read to its end, so a job canceled before this worker started is never run.
 */
public final class JobControls implements Managed {
  private static final Logger LOG = LoggerFactory.getLogger(JobControls.class);

  /** Requests older than this are forgotten: by then the job has ended one way or another. */
  static final Duration HORIZON = Duration.ofDays(2);

  private final Supplier<Consumer<String, byte[]>> consumerFactory;
  private final Clock clock;
  private final Map<String, Instant> canceled = new ConcurrentHashMap<>();
  private final CountDownLatch caughtUp = new CountDownLatch(1);
  private volatile boolean running;
  private volatile Consumer<String, byte[]> consumer;
  private Thread thread;

  public JobControls(Supplier<Consumer<String, byte[]>> consumerFactory, Clock clock) {
    this.consumerFactory = consumerFactory;
    this.clock = clock;
  }

  public boolean canceled(String jobId) {
    return canceled.containsKey(jobId);
  }

  /** Records a request (the loop calls this; tests may too). */
  public void apply(JobControl control) {
    if (control != null && control.action() == JobControl.Action.CANCEL) {
      canceled.put(control.jobId(), control.at() == null ? clock.instant() : control.at());
    }
  }

  /** Waits until the topic has been read to the end it had when this started. */
  public boolean awaitCaughtUp(Duration timeout) throws InterruptedException {
    return caughtUp.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
  }

  @Override
  public void start() {
    running = true;
    thread = new Thread(this::loop, "job-controls");
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
      try (Consumer<String, byte[]> c = consumerFactory.get()) {
        consumer = c;
        List<TopicPartition> partitions =
            c.partitionsFor(Topics.JOB_CONTROL.name()).stream()
                .map(p -> new TopicPartition(p.topic(), p.partition()))
                .toList();
        c.assign(partitions);
        c.seekToBeginning(partitions);
        Map<TopicPartition, Long> end = c.endOffsets(partitions);
        long lastPrune = clock.millis();
        while (running) {
          for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(100))) {
            try {
              apply(Topics.JOB_CONTROL.deserializeValue(r.value()));
            } catch (RuntimeException e) {
              LOG.warn(
                  "skipping unreadable job control at offset {}: {}", r.offset(), e.toString());
            }
          }
          if (caughtUp.getCount() > 0
              && end.entrySet().stream().allMatch(e -> c.position(e.getKey()) >= e.getValue())) {
            caughtUp.countDown();
            LOG.info("job controls read: {} cancel requests", canceled.size());
          }
          if (clock.millis() - lastPrune > 600_000) {
            Instant horizon = clock.instant().minus(HORIZON);
            canceled.values().removeIf(at -> at.isBefore(horizon));
            lastPrune = clock.millis();
          }
          failures = 0;
        }
      } catch (WakeupException e) {
        return;
      } catch (RuntimeException e) {
        failures++;
        LOG.warn("job-control reader failed ({}): {}", failures, e.toString());
        try {
          Thread.sleep(Math.min(10_000, 200L << Math.min(failures, 6)));
        } catch (InterruptedException ie) {
          return;
        }
      } finally {
        consumer = null;
      }
    }
  }
}
