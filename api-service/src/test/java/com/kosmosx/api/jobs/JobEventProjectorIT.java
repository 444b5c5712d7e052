package com.kosmosx.api.jobs;

import static org.assertj.core.api.Assertions.assertThat;

import com.kosmosx.api.ApiApplication;
import com.kosmosx.api.quarantine.QuarantineStore;
import com.kosmosx.contracts.JobEvent;
import com.kosmosx.contracts.Topics;
import com.kosmosx.platform.EmbeddedPostgresServer;
import com.kosmosx.platform.SharedPlatform;
import com.kosmosx.runtime.Loop;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;
import org.jdbi.v3.core.Jdbi;
import org.junit.jupiter.api.Test;
import org.postgresql.ds.PGSimpleDataSource;

/** A poll of job events is applied in one transaction, on the real PostgreSQL. */
class JobEventProjectorIT {

  @Test
  void appliesAWholePollOnceSkippingWhatItCannotReadAndDuplicates() throws Exception {
    PGSimpleDataSource ds = new PGSimpleDataSource();
    ds.setUrl(SharedPlatform.freshDatabase("projector_it"));
    ds.setUser(EmbeddedPostgresServer.USER);
    ApiApplication.migrate(ds);
    Jdbi jdbi = Jdbi.create(ds).installPlugin(new org.jdbi.v3.sqlobject.SqlObjectPlugin());
    Instant t = Instant.parse("2026-11-27T10:00:00Z");
    jdbi.useHandle(
        h -> {
          h.execute(
              "INSERT INTO accounts (id, username, email, password_hash, webhook_secret,"
                  + " created_at) VALUES ('acc_p', 'p', 'p@example.com', 'x', 'x', now())");
          for (String id : List.of("job_a", "job_b", "job_c")) {
            h.execute(
                "INSERT INTO jobs (id, account_id, type, status, lane, created_at)"
                    + " VALUES (?, 'acc_p', 'text', 'queued', 'shared', now())",
                id);
          }
        });
    JobEventProjector projector =
        new JobEventProjector(
            jdbi,
            () -> null,
            Loop.Settings.of(Duration.ZERO),
            null,
            new QuarantineStore(jdbi, java.time.Clock.systemUTC()));
    List<ConsumerRecord<String, byte[]>> poll = new ArrayList<>();
    JobEvent.Output out = new JobEvent.Output("hi", null);
    JobEvent.Usage usage = new JobEvent.Usage(3, 1, 0);
    poll.add(record(0, JobEvent.started("job_a", "acc_p", t, "w1")));
    poll.add(record(1, JobEvent.succeeded("job_a", "acc_p", t.plusMillis(5), "w1", out, usage)));
    poll.add(
        new ConsumerRecord<>(
            Topics.JOB_EVENTS.name(), 0, 2, "job_x", "{not json".getBytes(StandardCharsets.UTF_8)));
    poll.add(record(3, JobEvent.started("job_b", "acc_p", t, "w1")));
    // A re-run's duplicate start after the job ended changes nothing.
    poll.add(record(4, JobEvent.started("job_a", "acc_p", t.plusMillis(9), "w2")));
    TopicPartition tp = new TopicPartition(Topics.JOB_EVENTS.name(), 0);
    projector.apply(poll);

    Map<String, String> status =
        jdbi.<Map<String, String>, RuntimeException>withHandle(
            h ->
                h.createQuery("SELECT id, status FROM jobs")
                    .map((rs, ctx) -> Map.entry(rs.getString(1), rs.getString(2)))
                    .collectToMap(Map.Entry::getKey, Map.Entry::getValue));
    assertThat(status)
        .containsEntry("job_a", "succeeded")
        .containsEntry("job_b", "running")
        .containsEntry("job_c", "queued");
    assertThat(
            jdbi.<Integer, RuntimeException>withHandle(
                h ->
                    h.createQuery("SELECT output_tokens FROM jobs WHERE id = 'job_a'")
                        .mapTo(Integer.class)
                        .one()))
        .isEqualTo(1);

    // Read back through the DAO's hand-written row mapper: values, nulls and times.
    com.kosmosx.api.db.JobRow a =
        jdbi.withExtension(com.kosmosx.api.db.JobDao.class, d -> d.findById("job_a")).orElseThrow();
    assertThat(a.terminal()).isTrue();
    assertThat(a.inputTokens()).isEqualTo(3);
    assertThat(a.output()).contains("hi");
    assertThat(a.startedAt().toInstant()).isEqualTo(t);
    assertThat(a.completedAt().toInstant()).isEqualTo(t.plusMillis(5));
    com.kosmosx.api.db.JobRow c =
        jdbi.withExtension(com.kosmosx.api.db.JobDao.class, d -> d.find("job_c", "acc_p"))
            .orElseThrow();
    assertThat(c.inputTokens()).isNull();
    assertThat(c.startedAt()).isNull();
    assertThat(c.terminal()).isFalse();
    assertThat(
            jdbi.<Optional<Boolean>, com.kosmosx.api.db.JobDao, RuntimeException>withExtension(
                com.kosmosx.api.db.JobDao.class, d -> d.ended("job_a", "acc_p")))
        .hasValue(true);
    assertThat(
            jdbi.<Optional<Boolean>, com.kosmosx.api.db.JobDao, RuntimeException>withExtension(
                com.kosmosx.api.db.JobDao.class, d -> d.ended("job_a", "acc_x")))
        .isEmpty();

    // The same poll again (a crash before the offsets were committed): nothing changes twice.
    projector.apply(poll);
    assertThat(
            jdbi.<Integer, RuntimeException>withHandle(
                h ->
                    h.createQuery("SELECT count(*) FROM jobs WHERE status = 'succeeded'")
                        .mapTo(Integer.class)
                        .one()))
        .isEqualTo(1);
  }

  @Test
  void anOutputWithNulCharactersIsStoredAndTheRestOfThePollFlows() throws Exception {
    PGSimpleDataSource ds = new PGSimpleDataSource();
    ds.setUrl(SharedPlatform.freshDatabase("projector_nul"));
    ds.setUser(EmbeddedPostgresServer.USER);
    ApiApplication.migrate(ds);
    Jdbi jdbi = Jdbi.create(ds).installPlugin(new org.jdbi.v3.sqlobject.SqlObjectPlugin());
    Instant t = Instant.parse("2026-11-27T10:00:00Z");
    jdbi.useHandle(
        h -> {
          h.execute(
              "INSERT INTO accounts (id, username, email, password_hash, webhook_secret,"
                  + " created_at) VALUES ('acc_n', 'n', 'n@example.com', 'x', 'x', now())");
          for (String id : List.of("job_nul", "job_ok")) {
            h.execute(
                "INSERT INTO jobs (id, account_id, type, status, lane, created_at)"
                    + " VALUES (?, 'acc_n', 'text', 'queued', 'shared', now())",
                id);
          }
        });
    JobEventProjector projector =
        new JobEventProjector(
            jdbi,
            () -> null,
            Loop.Settings.of(Duration.ZERO),
            null,
            new QuarantineStore(jdbi, java.time.Clock.systemUTC()));
    JobEvent.Usage usage = new JobEvent.Usage(3, 2, 0);
    // Token 4 of the tiny tokenizer decodes to the byte 0x00: jsonb refuses U+0000.
    JobEvent.Output nul =
        new JobEvent.Output(
            "a\u0000b",
            List.of(new JobEvent.DetectedObject("x\u0000", new JobEvent.Box(0, 0, 1, 1))));
    List<ConsumerRecord<String, byte[]>> poll =
        List.of(
            record(0, JobEvent.succeeded("job_nul", "acc_n", t, "w", nul, usage)),
            record(
                1,
                JobEvent.succeeded(
                    "job_ok", "acc_n", t, "w", new JobEvent.Output("fine", null), usage)));
    TopicPartition tp = new TopicPartition(Topics.JOB_EVENTS.name(), 0);
    projector.apply(poll);
    Map<String, String> outputs =
        jdbi.<Map<String, String>, RuntimeException>withHandle(
            h ->
                h.createQuery("SELECT id, output->>'text' FROM jobs WHERE status = 'succeeded'")
                    .map((rs, ctx) -> Map.entry(rs.getString(1), rs.getString(2)))
                    .collectToMap(Map.Entry::getKey, Map.Entry::getValue));
    assertThat(outputs).containsEntry("job_nul", "a\uFFFDb").containsEntry("job_ok", "fine");
  }

  private static ConsumerRecord<String, byte[]> record(long offset, JobEvent e) {
    return new ConsumerRecord<>(
        Topics.JOB_EVENTS.name(), 0, offset, e.jobId(), Topics.JOB_EVENTS.serializeValue(e));
  }
}
