package com.kosmosx.worker.core;

import com.kosmosx.contracts.JobControl;
import com.kosmosx.contracts.Topics;
import com.kosmosx.runtime.BackgroundLoop;
import com.kosmosx.runtime.Clients;
import com.kosmosx.runtime.Loop;
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
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Every worker's view of the cancel requests: it reads the whole (compacted) job-control topic
 * without a consumer group, from the beginning, and keeps following it. A job whose id is here is
 * not started, and a running one stops at its next decode step. Job loops wait at start until the
 * topic has been read to its end, so a job canceled before this worker started is never run.
 */
public final class JobControls extends BackgroundLoop {
  private static final Logger LOG = LoggerFactory.getLogger(JobControls.class);

  /** Requests older than this are forgotten: by then the job has ended one way or another. */
  static final Duration HORIZON = Duration.ofDays(2);

  private final Supplier<Consumer<String, byte[]>> consumerFactory;
  private final Clock clock;
  private final Map<String, Instant> canceled = new ConcurrentHashMap<>();
  private final CountDownLatch caughtUp = new CountDownLatch(1);
  private volatile Consumer<String, byte[]> consumer;
  private Map<TopicPartition, Long> end;
  private long lastPrune;

  public JobControls(Supplier<Consumer<String, byte[]>> consumerFactory, Clock clock) {
    super("job-controls", Loop.Settings.of(Duration.ZERO));
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

  /** One poll of the control topic (read whole, without a group, from the beginning). */
  @Override
  public boolean round() {
    Consumer<String, byte[]> c = consumer;
    if (c == null) {
      c = consumerFactory.get();
      consumer = c;
      List<TopicPartition> partitions =
          c.partitionsFor(Topics.JOB_CONTROL.name(), Duration.ofSeconds(30)).stream()
              .map(p -> new TopicPartition(p.topic(), p.partition()))
              .toList();
      c.assign(partitions);
      c.seekToBeginning(partitions);
      end = c.endOffsets(partitions, Duration.ofSeconds(30));
      lastPrune = clock.millis();
    }
    // Caught up before polling too: with nothing to read, a lane waiting for this would otherwise
    // wait out the whole poll.
    Consumer<String, byte[]> cc = c;
    markCaughtUp(cc);
    for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofSeconds(1))) {
      try {
        apply(Topics.JOB_CONTROL.deserializeValue(r.value()));
      } catch (RuntimeException e) {
        // A control that cannot be read cancels nothing; skipping it costs one cancel at most.
        LOG.warn("skipping unreadable job control at offset {}: {}", r.offset(), e.toString());
      }
    }
    markCaughtUp(cc);
    if (clock.millis() - lastPrune > 600_000) {
      Instant horizon = clock.instant().minus(HORIZON);
      canceled.values().removeIf(at -> at.isBefore(horizon));
      lastPrune = clock.millis();
    }
    return true;
  }

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
    Clients.close(c, "the job-control consumer");
  }

  private void markCaughtUp(Consumer<String, byte[]> c) {
    if (caughtUp.getCount() > 0
        && end.entrySet().stream().allMatch(e -> c.position(e.getKey()) >= e.getValue())) {
      caughtUp.countDown();
      LOG.info("job controls read: {} cancel requests", canceled.size());
    }
  }
}
