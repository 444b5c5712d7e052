package com.kosmosx.api.health;

import com.codahale.metrics.health.HealthCheck;
import com.kosmosx.contracts.Topic;
import java.util.Collection;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;

/** Healthy when the broker answers and every topic this service uses exists. */
public final class KafkaHealthCheck extends HealthCheck {
  private final Admin admin;
  private final Collection<Topic<?, ?>> topics;

  public KafkaHealthCheck(Admin admin, Collection<Topic<?, ?>> topics) {
    this.admin = admin;
    this.topics = topics;
  }

  @Override
  protected Result check() throws Exception {
    var names = topics.stream().map(Topic::name).toList();
    try {
      admin.describeTopics(names).allTopicNames().get(3, TimeUnit.SECONDS);
      return Result.healthy("%d topics reachable", names.size());
    } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
      return Result.unhealthy(
          "Kafka unreachable or topics missing: " + e.getClass().getSimpleName());
    }
  }
}
