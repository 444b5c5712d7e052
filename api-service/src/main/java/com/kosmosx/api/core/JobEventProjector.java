package com.kosmosx.api.core;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.kosmosx.api.db.JobDao;
import com.kosmosx.contracts.JobEvent;
import com.kosmosx.contracts.Json;
import com.kosmosx.contracts.Topics;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.common.errors.SerializationException;
import org.jdbi.v3.core.Jdbi;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the jobs table up to date from {@code kosmos.job-events.v1} (read_committed, so only events
 * of committed worker transactions are seen). Updates are idempotent and status-guarded, so
 * redelivery after a crash is harmless; offsets are committed after the database writes.
 */
public final class JobEventProjector extends TopicFollower {
  private static final Logger LOG = LoggerFactory.getLogger(JobEventProjector.class);

  private final Jdbi jdbi;
  private final WebhookDeliveries webhooks;

  public JobEventProjector(
      Jdbi jdbi,
      java.util.function.Supplier<Consumer<String, byte[]>> consumerFactory,
      Backoff backoff,
      WebhookDeliveries webhooks) {
    super("job-event-projector", Topics.JOB_EVENTS.name(), consumerFactory, backoff);
    this.jdbi = jdbi;
    this.webhooks = webhooks;
  }

  /**
   * A whole poll in one transaction: one commit (one WAL flush) for up to 500 events instead of one
   * each. At 100 jobs/s the projection wrote 200 transactions a second and fell behind by seconds
   * on this machine's disk (./kosmos bench, pipeline figure). Every update is status-guarded, so a
   * poll applied again after a crash changes nothing twice.
   */
  @Override
  protected void apply(ConsumerRecords<String, byte[]> records) {
    List<JobEvent> events = new ArrayList<>(records.count());
    for (ConsumerRecord<String, byte[]> r : records) {
      JobEvent e = decode(r);
      if (e != null) {
        events.add(e);
      }
    }
    if (!events.isEmpty()) {
      jdbi.useTransaction(
          h -> {
            JobDao dao = h.attach(JobDao.class); // one SqlObject for the poll, not one per event
            events.forEach(e -> apply(h, dao, e));
          });
    }
  }

  void apply(ConsumerRecord<String, byte[]> record) {
    JobEvent event = decode(record);
    if (event != null) {
      apply(event);
    }
  }

  /** The event, or null (logged) if it cannot be read. */
  private static JobEvent decode(ConsumerRecord<String, byte[]> record) {
    JobEvent event;
    try {
      event = Topics.JOB_EVENTS.deserializeValue(record.value());
    } catch (SerializationException e) {
      // The worker validated what it wrote; an unreadable event is logged and skipped rather than
      // blocking every later job's projection. The topic remains the source of truth.
      LOG.error(
          "skipping unreadable job event at {}-{}@{}: {}",
          record.topic(),
          record.partition(),
          record.offset(),
          e.getMessage());
      return null;
    }
    return event;
  }

  /**
   * Applies one event in one transaction: the status-guarded update, the webhook delivery it causes
   * (same transaction, so neither is lost without the other), and a NOTIFY that wakes the requests
   * waiting on this job ({@code Prefer: wait}) on every API instance.
   */
  public void apply(JobEvent e) {
    jdbi.useTransaction(h -> apply(h, h.attach(JobDao.class), e));
  }

  private void apply(org.jdbi.v3.core.Handle h, JobDao dao, JobEvent e) {
    int changed =
        switch (e.kind()) {
          case STARTED -> dao.markStarted(e.jobId(), e.at());
          case SUCCEEDED -> {
            JobEvent.Usage u = e.usage() == null ? new JobEvent.Usage(0, 0, 0) : e.usage();
            yield dao.markSucceeded(
                e.jobId(), output(e), u.inputTokens(), u.outputTokens(), u.images(), e.at());
          }
          case FAILED ->
              dao.markEnded(
                  e.jobId(),
                  "failed",
                  e.error() == null ? "failed" : e.error().code(),
                  e.error() == null ? null : e.error().message(),
                  e.at());
          case CANCELED ->
              dao.markEnded(
                  e.jobId(),
                  "canceled",
                  e.error() == null ? "canceled" : e.error().code(),
                  e.error() == null ? "Canceled at the client's request." : e.error().message(),
                  e.at());
        };
    if (changed == 0) {
      return; // a duplicate or late event: the job already moved past it
    }
    boolean terminal = e.kind() != JobEvent.Kind.STARTED;
    if (webhooks != null) {
      webhooks.enqueue(h, e.jobId(), terminal ? "completed" : "started");
    }
    if (terminal) {
      h.createQuery("SELECT pg_notify(:channel, :id)")
          .bind("channel", JobWaiters.CHANNEL)
          .bind("id", e.jobId())
          .mapTo(String.class)
          .findOne();
    }
  }

  private static String output(JobEvent e) {
    try {
      // PostgreSQL's jsonb cannot hold U+0000 (a model may emit the byte); store U+FFFD, the
      // replacement character, so one odd output never stops the projection.
      return Json.mapper().writeValueAsString(storable(e.output()));
    } catch (JsonProcessingException ex) {
      throw new IllegalStateException("cannot write output of " + e.jobId(), ex);
    }
  }

  /** The output with every U+0000 (which jsonb cannot hold) as U+FFFD. */
  static JobEvent.Output storable(JobEvent.Output o) {
    if (o == null) {
      return null;
    }
    return new JobEvent.Output(
        nulFree(o.text()),
        o.objects() == null
            ? null
            : o.objects().stream()
                .map(d -> new JobEvent.DetectedObject(nulFree(d.label()), d.box()))
                .toList());
  }

  private static String nulFree(String s) {
    return s == null ? null : s.replace('\u0000', '\uFFFD');
  }

  /** Consumer settings: read only committed worker transactions; commit after the DB writes. */
  public static Map<String, Object> consumerConfig(String bootstrapServers, String groupId) {
    return Map.of(
        "bootstrap.servers",
        bootstrapServers,
        "group.id",
        groupId,
        "isolation.level",
        "read_committed",
        "enable.auto.commit",
        false,
        "auto.offset.reset",
        "earliest",
        "max.poll.records",
        500,
        // A crashed instance's partitions move to the others after 10 s, not the default 45 s.
        "session.timeout.ms",
        10_000,
        "heartbeat.interval.ms",
        3_000);
  }
}
