package com.kosmosx.api.streaming;

import com.kosmosx.contracts.StreamDelta;
import com.kosmosx.contracts.Topics;
import com.kosmosx.runtime.BackgroundLoop;
import com.kosmosx.runtime.Clients;
import com.kosmosx.runtime.Loop;
import java.time.Duration;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Every API instance's copy of the token deltas in flight. It reads the whole job-stream topic
 * without a consumer group (like the workers read cancel requests), from its end at start, so the
 * instance that holds a client's stream gets the deltas whichever worker produces them and
 * whichever instance took the job. Deltas only fill per-job buffers and wake the readers of that
 * job: the consumer never writes to a client, so a slow reader slows no one but itself.
 *
 * <p>Memory is bounded: a job's text is dropped a minute after its end (once no reader holds it) or
 * after ten minutes without news, and the oldest texts go first past {@code maxChars} in all. A
 * reader whose text was dropped takes it from the job's terminal event, as after any gap.
 */
public final class StreamHub extends BackgroundLoop {
  public static final String LOOP = "job-stream-reader";
  private static final Logger LOG = LoggerFactory.getLogger(StreamHub.class);
  private static final long AFTER_END = Duration.ofMinutes(1).toNanos();
  private static final long IDLE = Duration.ofMinutes(10).toNanos();

  private final Supplier<Consumer<String, byte[]>> consumers;
  private final long maxChars;
  private final Map<String, JobStream> jobs = new ConcurrentHashMap<>();
  private volatile Consumer<String, byte[]> consumer;
  private volatile boolean reading;
  private long lastSweep = System.nanoTime();

  public StreamHub(Supplier<Consumer<String, byte[]>> consumers, long maxChars) {
    super(LOOP, Loop.Settings.of(Duration.ZERO));
    this.consumers = consumers;
    this.maxChars = maxChars;
  }

  /** The job's stream, registered as read until {@link #release}. */
  public JobStream open(String jobId) {
    JobStream s = jobs.computeIfAbsent(jobId, k -> new JobStream());
    s.reader(+1);
    return s;
  }

  public void release(JobStream s) {
    s.reader(-1);
  }

  /** A job ended (the job-end listener calls this for every job, on every instance). */
  public void ended(String jobId) {
    JobStream s = jobs.get(jobId);
    if (s != null) {
      s.ended();
    }
  }

  /** Applies one delta (the loop calls this; tests may too). */
  public void apply(StreamDelta d) {
    if (d == null) {
      return;
    }
    JobStream s = jobs.computeIfAbsent(d.jobId(), k -> new JobStream());
    if (d.kind() == StreamDelta.Kind.STARTED) {
      s.started();
    } else {
      s.append(d.offset(), d.text(), d.engineFirstTokenMs());
    }
  }

  public int jobsHeld() {
    return jobs.size();
  }

  /** Whether the reader is assigned and positioned (deltas published from now on are seen). */
  public boolean reading() {
    return reading;
  }

  @Override
  public boolean round() {
    Consumer<String, byte[]> c = consumer;
    if (c == null) {
      c = consumers.get();
      consumer = c;
      List<TopicPartition> partitions =
          c.partitionsFor(Topics.JOB_STREAM.name(), Duration.ofSeconds(30)).stream()
              .map(p -> new TopicPartition(p.topic(), p.partition()))
              .toList();
      c.assign(partitions);
      c.seekToEnd(partitions);
      partitions.forEach(c::position); // resolve the end now, not at the first poll
      reading = true;
    }
    for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofSeconds(1))) {
      try {
        apply(Topics.JOB_STREAM.deserializeValue(r.value()));
      } catch (RuntimeException e) {
        // A delta that cannot be read is a delta lost: its readers fill in from the terminal event.
        LOG.warn("skipping unreadable delta at offset {}: {}", r.offset(), e.toString());
      }
    }
    if (System.nanoTime() - lastSweep > 1_000_000_000L) {
      sweep();
      lastSweep = System.nanoTime();
    }
    return true;
  }

  /** Drops ended and idle texts nobody reads, then the oldest ones past the budget. */
  void sweep() {
    long total = 0;
    for (Iterator<JobStream> it = jobs.values().iterator(); it.hasNext(); ) {
      JobStream s = it.next();
      if (!s.hasReaders()) {
        JobStream.View v = s.peek();
        if ((v.ended() && s.idleFor(AFTER_END)) || s.idleFor(IDLE)) {
          it.remove();
          continue;
        }
      }
      total += s.length();
    }
    if (total > maxChars) {
      List<Map.Entry<String, JobStream>> byAge =
          jobs.entrySet().stream()
              .sorted(java.util.Comparator.comparingLong(e -> e.getValue().touchedAt()))
              .toList();
      for (Map.Entry<String, JobStream> e : byAge) {
        if (total <= maxChars) {
          break;
        }
        total -= e.getValue().length();
        jobs.remove(e.getKey(), e.getValue());
        e.getValue().dropped();
      }
    }
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
    reading = false;
    Consumer<String, byte[]> c = consumer;
    consumer = null;
    Clients.close(c, "the job-stream consumer");
    // Deltas published while the reader was away are gaps: mark every open text so.
    jobs.values().forEach(JobStream::dropped);
  }
}
