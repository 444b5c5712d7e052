package com.kosmosx.contracts;

import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;

/**
 * The one registry of topics. Every topic is versioned ({@code .v1}); a breaking change to a record
 * gets a new topic, additive changes stay (readers ignore unknown fields).
 */
public final class Topics {
  public static final String SHARED_LANE = "shared";
  private static final Pattern LANE = Pattern.compile("[a-z0-9][a-z0-9-]{0,39}");

  private static final Map<String, String> DELETE =
      Map.of(TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_DELETE);
  private static final Map<String, String> COMPACT =
      Map.of(TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT);

  /**
   * Jobs lanes carry clients' inputs: kept a day (a job not started within its deadline, an hour by
   * default, never runs anyway), so a closed account's inputs leave Kafka within 24 h.
   */
  private static final Map<String, String> LANE_MESSAGES =
      Map.of(
          TopicConfig.CLEANUP_POLICY_CONFIG,
          TopicConfig.CLEANUP_POLICY_DELETE,
          TopicConfig.RETENTION_MS_CONFIG,
          String.valueOf(24L * 3600 * 1000));

  /** Job events carry outputs: kept 7 days, the projection's longest outage to recover from. */
  private static final Map<String, String> EVENTS =
      Map.of(
          TopicConfig.CLEANUP_POLICY_CONFIG,
          TopicConfig.CLEANUP_POLICY_DELETE,
          TopicConfig.RETENTION_MS_CONFIG,
          String.valueOf(7L * 24 * 3600 * 1000));

  /**
   * Token deltas live only while someone may still be reading a stream: an hour. They are a
   * convenience copy; the job event keeps the text for good.
   */
  private static final Map<String, String> STREAM =
      Map.of(
          TopicConfig.CLEANUP_POLICY_CONFIG,
          TopicConfig.CLEANUP_POLICY_DELETE,
          TopicConfig.RETENTION_MS_CONFIG,
          String.valueOf(3600L * 1000));

  private static final Serde<String> KEY = Serdes.String();

  public static final Topic<String, JobEvent> JOB_EVENTS =
      new Topic<>("kosmos.job-events.v1", KEY, new JsonSerde<>(JobEvent.class), EVENTS);
  public static final Topic<String, JobControl> JOB_CONTROL =
      new Topic<>("kosmos.job-control.v1", KEY, new JsonSerde<>(JobControl.class), COMPACT);
  public static final Topic<String, StreamDelta> JOB_STREAM =
      new Topic<>("kosmos.job-stream.v1", KEY, new JsonSerde<>(StreamDelta.class), STREAM);
  public static final Topic<String, UsageEvent> USAGE =
      new Topic<>("kosmos.usage.v1", KEY, new JsonSerde<>(UsageEvent.class), DELETE);
  public static final Topic<String, AccountPlan> ACCOUNTS =
      new Topic<>("kosmos.accounts.v1", KEY, new JsonSerde<>(AccountPlan.class), COMPACT);
  public static final Topic<String, UsageRollup> USAGE_ROLLUPS =
      new Topic<>("kosmos.usage-rollups.v1", KEY, new JsonSerde<>(UsageRollup.class), COMPACT);

  /** Dead letters keep the raw bytes: a poison message may not even be valid JSON. */
  public static final Topic<String, byte[]> JOBS_DLQ =
      new Topic<>("kosmos.jobs.dlq.v1", KEY, Serdes.ByteArray(), DELETE);

  public static final Topic<String, JobRequest> JOBS_SHARED = jobs(SHARED_LANE);

  private Topics() {}

  /** The jobs topic of a lane: {@code shared}, or a dedicated lane served by reserved workers. */
  public static Topic<String, JobRequest> jobs(String lane) {
    if (lane == null || !LANE.matcher(lane).matches()) {
      throw new IllegalArgumentException("invalid lane name: " + lane);
    }
    return new Topic<>(
        "kosmos.jobs." + lane + ".v1", KEY, new JsonSerde<>(JobRequest.class), LANE_MESSAGES);
  }

  /** Every fixed topic (lanes other than shared are created when a dedicated lane is set up). */
  public static List<Topic<?, ?>> all() {
    return List.of(
        JOBS_SHARED, JOB_EVENTS, JOB_CONTROL, JOB_STREAM, USAGE, ACCOUNTS, USAGE_ROLLUPS, JOBS_DLQ);
  }
}
