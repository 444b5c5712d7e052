package com.kosmosx.contracts;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.LocalDate;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.errors.SerializationException;
import org.junit.jupiter.api.Test;

class ContractsRoundTripTest {
  private static final Instant T = Instant.parse("2026-11-27T10:15:30.123Z");

  private static <V> V roundTrip(Topic<String, V> topic, V value) {
    return topic.deserializeValue(topic.serializeValue(value));
  }

  @Test
  void jobRequestRoundTrips() {
    var input =
        new JobInput(
            "Once upon a time",
            64,
            0.7,
            0.9,
            List.of("\n\n"),
            7L,
            new ImageInput("aGVsbG8=", 640, 480, "png", "ab12"),
            true);
    var request =
        new JobRequest("job_1", "acc_1", JobType.IMAGE, "shared", input, T, T.plusSeconds(600));
    assertThat(roundTrip(Topics.JOBS_SHARED, request)).isEqualTo(request);
  }

  @Test
  void jobEventsRoundTrip() {
    var objects =
        List.of(new JobEvent.DetectedObject("a snowman", new JobEvent.Box(0.39, 0.04, 0.98, 0.82)));
    var succeeded =
        JobEvent.succeeded(
            "job_1",
            "acc_1",
            T,
            "worker-1",
            new JobEvent.Output("text", objects),
            new JobEvent.Usage(10, 20, 1));
    var failed =
        JobEvent.failed("job_2", "acc_1", T, "worker-1", new JobEvent.Error("expired", "late"));
    var started = JobEvent.started("job_3", "acc_1", T, "worker-1");
    assertThat(roundTrip(Topics.JOB_EVENTS, succeeded)).isEqualTo(succeeded);
    assertThat(roundTrip(Topics.JOB_EVENTS, failed)).isEqualTo(failed);
    assertThat(roundTrip(Topics.JOB_EVENTS, started)).isEqualTo(started);
  }

  @Test
  void usageEventRoundTrips() {
    var usage = new UsageEvent("job_1", "acc_1", JobType.TEXT, 12, 30, 0, false, T);
    assertThat(roundTrip(Topics.USAGE, usage)).isEqualTo(usage);
  }

  @Test
  void accountPlanRoundTrips() {
    var plan =
        new AccountPlan(
            "acc_1",
            Map.of(
                JobType.TEXT, AccountPlan.PlanKind.DEDICATED,
                JobType.IMAGE, AccountPlan.PlanKind.PAYG),
            "acme",
            T,
            List.of(
                new AccountPlan.Change(
                    JobType.TEXT,
                    AccountPlan.PlanKind.DEDICATED,
                    "acme",
                    LocalDate.of(2026, 11, 1))));
    assertThat(roundTrip(Topics.ACCOUNTS, plan)).isEqualTo(plan);
  }

  @Test
  void thePlanInForceFollowsTheSchedule() {
    var plan =
        new AccountPlan(
            "acc_1",
            Map.of(),
            null,
            T,
            List.of(
                new AccountPlan.Change(
                    JobType.TEXT, AccountPlan.PlanKind.PAYG, null, LocalDate.of(2027, 1, 1)),
                new AccountPlan.Change(
                    JobType.TEXT,
                    AccountPlan.PlanKind.DEDICATED,
                    "acme",
                    LocalDate.of(2026, 11, 1))));
    assertThat(plan.schedule().get(0).effectiveFrom()).isEqualTo(LocalDate.of(2026, 11, 1));
    assertThat(plan.planOn(JobType.TEXT, LocalDate.of(2026, 10, 31)))
        .isEqualTo(AccountPlan.PlanKind.PAYG);
    assertThat(plan.planOn(JobType.TEXT, LocalDate.of(2026, 11, 1)))
        .isEqualTo(AccountPlan.PlanKind.DEDICATED);
    assertThat(plan.inForce(JobType.TEXT, LocalDate.of(2026, 12, 31)).lane()).isEqualTo("acme");
    assertThat(plan.planOn(JobType.TEXT, LocalDate.of(2027, 1, 1)))
        .isEqualTo(AccountPlan.PlanKind.PAYG);
    assertThat(plan.planOn(JobType.IMAGE, LocalDate.of(2026, 12, 1)))
        .isEqualTo(AccountPlan.PlanKind.PAYG);
    // An older producer's record (no schedule) still reads.
    var old =
        Topics.ACCOUNTS.deserializeValue(
            "{\"account_id\":\"acc_2\",\"plans\":{},\"updated_at\":\"2026-11-01T00:00:00Z\"}"
                .getBytes(java.nio.charset.StandardCharsets.UTF_8));
    assertThat(old.schedule()).isEmpty();
  }

  @Test
  void usageRollupAndControlRoundTrip() {
    var rollup =
        new UsageRollup("acc_1", JobType.TEXT, LocalDate.of(2026, 11, 27), 2, 5, 7, 200, 0, 0);
    assertThat(roundTrip(Topics.USAGE_ROLLUPS, rollup)).isEqualTo(rollup);
    var control = new JobControl("job_1", "acc_1", JobControl.Action.CANCEL, T);
    assertThat(roundTrip(Topics.JOB_CONTROL, control)).isEqualTo(control);
  }

  @Test
  void wireFormatIsSnakeCaseWithIsoTimes() {
    var usage = new UsageEvent("job_1", "acc_1", JobType.TEXT, 12, 30, 0, false, T);
    String json = new String(Topics.USAGE.serializeValue(usage), StandardCharsets.UTF_8);
    assertThat(json)
        .contains("\"event_id\":\"job_1\"")
        .contains("\"input_tokens\":12")
        .contains("\"product\":\"text\"")
        .contains("\"occurred_at\":\"2026-11-27T10:15:30.123Z\"");
  }

  @Test
  void aRecordWithAnUnknownExtraFieldStillReads() {
    // Given a usage event from another producer version that carries a field this one lacks
    String json =
        "{\"event_id\":\"job_9\",\"account_id\":\"acc_9\",\"product\":\"text\","
            + "\"input_tokens\":3,\"output_tokens\":4,\"images\":0,\"object_detection\":false,"
            + "\"occurred_at\":\"2026-11-27T10:15:30Z\",\"region\":\"eu-west\",\"extra\":{\"a\":[1]}}";
    // When it is read
    UsageEvent e = Topics.USAGE.deserializeValue(json.getBytes(StandardCharsets.UTF_8));
    // Then the known fields are intact
    assertThat(e.eventId()).isEqualTo("job_9");
    assertThat(e.inputTokens()).isEqualTo(3);
    assertThat(e.outputTokens()).isEqualTo(4);
  }

  @Test
  void anOlderJobRequestWithoutOptionalFieldsReads() {
    String json =
        "{\"job_id\":\"job_1\",\"account_id\":\"acc_1\",\"type\":\"text\","
            + "\"input\":{\"prompt\":\"hi\",\"max_tokens\":5},\"submitted_at\":\"2026-11-27T10:15:30Z\","
            + "\"added_later\":true}";
    JobRequest r = Topics.JOBS_SHARED.deserializeValue(json.getBytes(StandardCharsets.UTF_8));
    assertThat(r.input().prompt()).isEqualTo("hi");
    assertThat(r.lane()).isNull();
    assertThat(r.deadline()).isNull();
  }

  @Test
  void garbageIsASerializationExceptionNotACrash() {
    assertThatThrownBy(
            () -> Topics.JOBS_SHARED.deserializeValue("not json".getBytes(StandardCharsets.UTF_8)))
        .isInstanceOf(SerializationException.class)
        .hasMessageContaining("JobRequest");
    assertThatThrownBy(
            () ->
                Topics.JOBS_SHARED.deserializeValue(
                    "{\"job_id\":\"j\"}".getBytes(StandardCharsets.UTF_8)))
        .isInstanceOf(SerializationException.class);
  }

  @Test
  void everyTopicIsVersionedAndUnique() {
    var names = Topics.all().stream().map(Topic::name).toList();
    assertThat(names)
        .doesNotHaveDuplicates()
        .allMatch(n -> n.startsWith("kosmos.") && n.endsWith(".v1"));
    assertThat(Topics.jobs("acme").name()).isEqualTo("kosmos.jobs.acme.v1");
  }

  @Test
  void laneNamesAreRestricted() {
    assertThatThrownBy(() -> Topics.jobs("../evil")).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> Topics.jobs("")).isInstanceOf(IllegalArgumentException.class);
  }
}
