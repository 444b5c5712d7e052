package com.kosmosx.api.jobs;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.kosmosx.api.db.JobDao;
import com.kosmosx.api.outbox.TopicFollower;
import com.kosmosx.api.webhooks.WebhookDeliveries;
import com.kosmosx.contracts.JobEvent;
import com.kosmosx.contracts.Json;
import com.kosmosx.contracts.Topics;
import com.kosmosx.runtime.KafkaSettings;
import com.kosmosx.runtime.Loop;
import com.kosmosx.runtime.Quarantine;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.jdbi.v3.core.Jdbi;

/**
 * Keeps the jobs table up to date from {@code kosmos.job-events.v1} (read_committed, so only events
 * of committed worker transactions are seen). Updates are idempotent and status-guarded, so
 * redelivery after a crash is harmless; offsets are committed after the database writes.
 */
public final class JobEventProjector extends TopicFollower<JobEvent> {
  private static final org.slf4j.Logger LOG =
      org.slf4j.LoggerFactory.getLogger(JobEventProjector.class);

  public static final String LOOP = "job-event-projector";

  private final Jdbi jdbi;
  private final WebhookDeliveries webhooks;

  public JobEventProjector(
      Jdbi jdbi,
      java.util.function.Supplier<Consumer<String, byte[]>> consumerFactory,
      Loop.Settings settings,
      WebhookDeliveries webhooks,
      Quarantine quarantine) {
    super(LOOP, Topics.JOB_EVENTS.name(), consumerFactory, settings, quarantine);
    this.jdbi = jdbi;
    this.webhooks = webhooks;
  }

  @Override
  protected JobEvent decode(ConsumerRecord<String, byte[]> record) {
    return Topics.JOB_EVENTS.deserializeValue(record.value());
  }

  /**
   * A whole poll in one transaction: one commit (one WAL flush) for up to 500 events instead of one
   * each. At 100 jobs/s the projection wrote 200 transactions a second and fell behind by seconds
   * on this machine's disk (./kosmos bench, pipeline figure). Every update is status-guarded, so a
   * poll applied again after a crash changes nothing twice.
   */
  @Override
  protected void applyAll(List<JobEvent> events) {
    jdbi.useTransaction(
        h -> {
          JobDao dao = h.attach(JobDao.class); // one SqlObject for the poll, not one per event
          events.forEach(e -> apply(h, dao, e));
        });
  }

  @Override
  protected void applyOne(JobEvent event) {
    apply(event);
  }

  /** One line per job that ended, with the trace its record carries (Tracing). */
  @Override
  protected void applied(ConsumerRecord<String, byte[]> record, JobEvent e) {
    if (e.kind() == JobEvent.Kind.STARTED) {
      return;
    }
    try (var scope =
        com.kosmosx.runtime.Tracing.job(
            e.jobId(),
            e.accountId(),
            null,
            com.kosmosx.runtime.Tracing.traceId(record.headers()))) {
      LOG.info(
          "job {} {} (recorded)", e.jobId(), e.kind().name().toLowerCase(java.util.Locale.ROOT));
    }
  }

  /** Takes a quarantined event back (after its cause was fixed), in the replay's transaction. */
  public void replay(org.jdbi.v3.core.Handle h, byte[] payload) {
    JobEvent e = Topics.JOB_EVENTS.deserializeValue(payload);
    if (e != null) {
      apply(h, h.attach(JobDao.class), e);
    }
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
    Optional<Boolean> changed =
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
              e.usage() == null
                  ? dao.markEnded(
                      e.jobId(),
                      "canceled",
                      e.error() == null ? "canceled" : e.error().code(),
                      e.error() == null ? "Canceled at the client's request." : e.error().message(),
                      e.at())
                  // Canceled while it ran: the work done before the cancel is billed.
                  : dao.markCanceledWithUsage(
                      e.jobId(),
                      e.error() == null ? "canceled" : e.error().code(),
                      e.error() == null ? "Canceled at the client's request." : e.error().message(),
                      e.usage().inputTokens(),
                      e.usage().outputTokens(),
                      e.usage().images(),
                      e.at());
        };
    if (changed.isEmpty()) {
      return; // a duplicate or late event: the job already moved past it
    }
    boolean terminal = e.kind() != JobEvent.Kind.STARTED;
    if (webhooks != null && changed.get()) {
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
                .toList(),
        o.finishReason());
  }

  private static String nulFree(String s) {
    return s == null ? null : s.replace('\u0000', '\uFFFD');
  }

  /** Consumer settings: read only committed worker transactions; commit after the DB writes. */
  public static Map<String, Object> consumerConfig(String bootstrapServers, String groupId) {
    return KafkaSettings.committedReader(bootstrapServers, groupId, "kosmos-api-projector", 500);
  }
}
