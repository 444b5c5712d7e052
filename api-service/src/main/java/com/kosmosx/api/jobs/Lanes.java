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
