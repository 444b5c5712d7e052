package com.kosmosx.api.jobs;

import com.codahale.metrics.health.HealthCheck;
import com.kosmosx.api.billing.PlanService;
import com.kosmosx.contracts.Topics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.DescribeConsumerGroupsOptions;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.jdbi.v3.core.Jdbi;

/**
 * Which jobs lanes have a worker. The lanes are {@code shared}, the default dedicated lane, and
 * every lane a plan names; a lane is served while its worker consumer group ({@code
 * <workerGroup>.<lane>}) has a member. Asked of Kafka at most every 15 s, each call with its own
 * deadline; when Kafka cannot answer, the last answer stands.
 */
public final class Lanes {
  static final Duration CACHE = Duration.ofSeconds(15);

  private final Jdbi jdbi;
  private final Admin admin;
  private final String workerGroup;
  private volatile Map<String, Boolean> served = Map.of();
  private volatile long askedAt;

  public Lanes(Jdbi jdbi, Admin admin, String workerGroup) {
    this.jdbi = jdbi;
    this.admin = admin;
    this.workerGroup = workerGroup;
  }

  public List<String> all() {
    TreeSet<String> lanes = new TreeSet<>();
    lanes.add(Topics.SHARED_LANE);
    lanes.add(PlanService.DEFAULT_DEDICATED_LANE);
    lanes.addAll(
        jdbi.withHandle(
            h ->
                h.createQuery("SELECT DISTINCT lane FROM account_plans WHERE lane IS NOT NULL")
                    .mapTo(String.class)
                    .list()));
    return new ArrayList<>(lanes);
  }

  /** Lane → whether a worker serves it now (as of at most {@link #CACHE} ago). */
  public synchronized Map<String, Boolean> served() {
    if (System.nanoTime() - askedAt < CACHE.toNanos() && !served.isEmpty()) {
      return served;
    }
    List<String> lanes = all();
    List<String> groups = lanes.stream().map(l -> workerGroup + "." + l).toList();
    Map<String, Boolean> now = new TreeMap<>();
    try {
      Map<String, ConsumerGroupDescription> found =
          admin
              .describeConsumerGroups(groups, new DescribeConsumerGroupsOptions().timeoutMs(5_000))
              .all()
              .get(10, TimeUnit.SECONDS);
      for (int i = 0; i < lanes.size(); i++) {
        ConsumerGroupDescription d = found.get(groups.get(i));
        now.put(lanes.get(i), d != null && !d.members().isEmpty());
      }
    } catch (Exception e) {
      // A group never created is reported per group by some brokers; ask one by one.
      for (int i = 0; i < lanes.size(); i++) {
        now.put(lanes.get(i), hasMembers(groups.get(i)));
      }
    }
    served = Map.copyOf(now);
    askedAt = System.nanoTime();
    return served;
  }

  private boolean hasMembers(String group) {
    try {
      ConsumerGroupDescription d =
          admin
              .describeConsumerGroups(
                  List.of(group), new DescribeConsumerGroupsOptions().timeoutMs(5_000))
              .all()
              .get(10, TimeUnit.SECONDS)
              .get(group);
      return d != null && !d.members().isEmpty();
    } catch (Exception e) {
      Boolean last = served.get(group.substring(workerGroup.length() + 1));
      return last != null && last;
    }
  }

  /** A lane as an operator sees it: its worker group's members and the jobs they have not read. */
  public record LaneStats(int consumers, long lag) {}

  private volatile Map<String, LaneStats> stats = Map.of();
  private volatile long statsAt;

  /**
   * Lane → consumers and lag (end offsets minus the group's committed offsets over the lane's
   * partitions; a partition the group never committed counts from 0), asked of Kafka at most every
   * 5 s; when Kafka cannot answer, the call fails (a metrics scrape shows a gap, not a stale
   * number).
   */
  public synchronized Map<String, LaneStats> stats() throws Exception {
    if (System.nanoTime() - statsAt < STATS_CACHE.toNanos() && !stats.isEmpty()) {
      return stats;
    }
    Map<String, LaneStats> now = new TreeMap<>();
    for (String lane : all()) {
      String group = workerGroup + "." + lane;
      String topic = Topics.jobs(lane).name();
      int members = 0;
      try {
        ConsumerGroupDescription d =
            admin
                .describeConsumerGroups(
                    List.of(group), new DescribeConsumerGroupsOptions().timeoutMs(2_000))
                .all()
                .get(3, TimeUnit.SECONDS)
                .get(group);
        members = d == null ? 0 : d.members().size();
      } catch (java.util.concurrent.ExecutionException e) {
        // A group no worker ever joined (a new plan's lane) does not exist: nobody serves it.
        if (!(e.getCause() instanceof GroupIdNotFoundException)) {
          throw e;
        }
      }
      Map<TopicPartition, OffsetSpec> latest = new java.util.HashMap<>();
      try {
        var desc =
            admin
                .describeTopics(List.of(topic))
                .allTopicNames()
                .get(3, TimeUnit.SECONDS)
                .get(topic);
        desc.partitions()
            .forEach(
                p -> latest.put(new TopicPartition(topic, p.partition()), OffsetSpec.latest()));
      } catch (java.util.concurrent.ExecutionException e) {
        if (!(e.getCause() instanceof UnknownTopicOrPartitionException)) {
          throw e;
        }
      }
      long lag = 0;
      if (!latest.isEmpty()) {
        Map<TopicPartition, OffsetAndMetadata> committed = Map.of();
        try {
          committed =
              admin
                  .listConsumerGroupOffsets(group)
                  .partitionsToOffsetAndMetadata()
                  .get(3, TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
          if (!(e.getCause() instanceof GroupIdNotFoundException)) {
            throw e;
          }
        }
        var ends = admin.listOffsets(latest).all().get(3, TimeUnit.SECONDS);
        for (var e : ends.entrySet()) {
          OffsetAndMetadata c = committed.get(e.getKey());
          lag += Math.max(0, e.getValue().offset() - (c == null ? 0 : c.offset()));
        }
      }
      now.put(lane, new LaneStats(members, lag));
    }
    stats = Map.copyOf(now);
    statsAt = System.nanoTime();
    return stats;
  }

  static final Duration STATS_CACHE = Duration.ofSeconds(5);

  public boolean served(String lane) {
    return served().getOrDefault(lane, false);
  }

  /**
   * Names every lane without a worker (their jobs cannot run and end {@code expired} at their
   * deadline, see {@link DeadlineSweeper}). It stays healthy: a missing worker does not make this
   * API instance unfit to serve, and a load balancer or the local stack's start must not take it
   * out for that. The message and the {@code unserved} detail say which lanes are idle.
   */
  public HealthCheck healthCheck() {
    return new HealthCheck() {
      @Override
      protected Result check() {
        Map<String, Boolean> s = served();
        List<String> idle =
            s.entrySet().stream().filter(e -> !e.getValue()).map(Map.Entry::getKey).toList();
        return Result.builder()
            .healthy()
            .withMessage(
                idle.isEmpty()
                    ? "every lane has a worker: " + s.keySet()
                    : "lanes without a worker: " + idle)
            .withDetail("lanes", s)
            .withDetail("unserved", idle)
            .build();
      }
    };
  }
}
