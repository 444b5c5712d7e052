package com.kosmosx.worker.core;

import com.kosmosx.contracts.JobRequest;
import com.kosmosx.contracts.StreamDelta;
import com.kosmosx.contracts.Topics;
import java.time.Clock;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Publishes streaming jobs' deltas to {@link Topics#JOB_STREAM} with a producer of its own, outside
 * the lanes' transactions: a delta is a convenience copy (the terminal event carries the whole
 * text, in the transaction that bills it), so it is sent once, without waiting, and dropped if
 * Kafka cannot take it now. The decode loop never waits on it: {@code send} only appends to the
 * producer's buffer, and the producer gives up after 50 ms when it cannot learn where to send.
 */
public final class StreamPublisher implements JobRunner.StreamSink, AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(StreamPublisher.class);

  private final Producer<String, byte[]> producer;
  private final Clock clock;
  private final AtomicLong sent = new AtomicLong();
  private final AtomicLong dropped = new AtomicLong();

  public StreamPublisher(Producer<String, byte[]> producer, Clock clock) {
    this.producer = producer;
    this.clock = clock;
  }

  @Override
  public void started(List<JobRequest> jobs) {
    for (JobRequest job : jobs) {
      send(StreamDelta.started(job.jobId(), clock.instant()));
    }
  }

  @Override
  public void delta(JobRequest job, int offset, String text, Double engineFirstTokenMs) {
    send(StreamDelta.text(job.jobId(), offset, text, clock.instant(), engineFirstTokenMs));
  }

  private void send(StreamDelta d) {
    try {
      producer.send(
          new ProducerRecord<>(
              Topics.JOB_STREAM.name(), d.jobId(), Topics.JOB_STREAM.serializeValue(d)),
          (meta, error) -> {
            if (error != null && dropped.incrementAndGet() % 1000 == 1) {
              LOG.warn("token deltas are being dropped ({} so far): {}", dropped, error.toString());
            }
          });
      sent.incrementAndGet();
    } catch (RuntimeException e) {
      if (dropped.incrementAndGet() % 1000 == 1) {
        LOG.warn("token deltas are being dropped ({} so far): {}", dropped, e.toString());
      }
    }
  }

  public long sent() {
    return sent.get();
  }

  public long dropped() {
    return dropped.get();
  }

  @Override
  public void close() {
    producer.close(java.time.Duration.ofSeconds(2));
  }
}
