package com.kosmosx.runtime;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;

/**
 * Every Kafka client setting of every service, built here from the clients' own constants, so a
 * misspelt key is a compile error and each choice is made, and explained, once.
 */
public final class KafkaSettings {
  private KafkaSettings() {}

  /**
   * A consumer that reads only committed transactions and commits offsets itself, after its work. A
   * crashed member's partitions move to the others after 10 s, not the default 45 s.
   */
  public static Map<String, Object> committedReader(
      String bootstrap, String group, String clientId, int maxPollRecords) {
    Map<String, Object> m = base(bootstrap, clientId);
    if (group != null) {
      m.put(ConsumerConfig.GROUP_ID_CONFIG, group);
      m.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 10_000);
      m.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, 3_000);
    }
    m.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    m.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    m.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    m.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, Math.max(1, maxPollRecords));
    // fetch.max.wait.ms stays at its 500 ms default. At 2 s an idle consumer asked the broker four
    // times less often, but closing a consumer waits for its held fetch (the fetch-session close
    // queues behind it on the connection): every service stopped seconds slower, and a stopped
    // API delivered a webhook retry it should have left to the next (WebhooksIT, 2026-12-02).
    // Every call has a deadline: a broker that is away fails a call in seconds, not minutes.
    m.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30_000);
    m.put(CommonClientConfigs.REQUEST_TIMEOUT_MS_CONFIG, 15_000);
    return m;
  }

  /** A worker's lane consumer: also, the poll interval covers the longest job of a batch. */
  public static Map<String, Object> laneReader(
      String bootstrap, String group, String clientId, int maxBatch, Duration maxJobTime) {
    Map<String, Object> m = committedReader(bootstrap, group, clientId, maxBatch);
    m.put(
        ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG,
        (int) Math.min(Integer.MAX_VALUE, maxJobTime.toMillis() + 60_000));
    return m;
  }

  /**
   * An idempotent producer with acks=all that fails a send within seconds when the broker is away,
   * so its caller backs off and retries from its own durable state (the outbox) instead of holding
   * a database transaction for minutes.
   */
  public static Map<String, Object> reliableProducer(String bootstrap, String clientId) {
    Map<String, Object> m = base(bootstrap, clientId);
    m.put(ProducerConfig.ACKS_CONFIG, "all");
    m.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    m.put(ProducerConfig.LINGER_MS_CONFIG, 1);
    m.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 5_000);
    m.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 5_000);
    m.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 10_000);
    return m;
  }

  /**
   * A best-effort producer for data whose truth lives elsewhere (token deltas): one ack, no retries
   * worth waiting for, and a send that never blocks the caller for long when the broker is away (it
   * fails fast and the caller drops the record).
   */
  public static Map<String, Object> bestEffortProducer(String bootstrap, String clientId) {
    Map<String, Object> m = base(bootstrap, clientId);
    m.put(ProducerConfig.ACKS_CONFIG, "1");
    m.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, false);
    m.put(ProducerConfig.LINGER_MS_CONFIG, 0);
    m.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 50);
    m.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 5_000);
    m.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 10_000);
    m.put(ProducerConfig.BUFFER_MEMORY_CONFIG, 8L * 1024 * 1024);
    return m;
  }

  /**
   * A transactional producer (exactly-once with the consumed offsets). Transactions here are short
   * (no model run inside one); a dead worker's open one is aborted by the broker after 30 s, or at
   * once when the same transactional id starts again.
   */
  public static Map<String, Object> transactionalProducer(
      String bootstrap, String transactionalId) {
    Map<String, Object> m = base(bootstrap, transactionalId);
    m.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
    m.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    m.put(ProducerConfig.ACKS_CONFIG, "all");
    m.put(ProducerConfig.LINGER_MS_CONFIG, 0);
    m.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, 30_000);
    m.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 30_000);
    return m;
  }

  /** An admin client. */
  public static Map<String, Object> admin(String bootstrap, String clientId) {
    Map<String, Object> m = base(bootstrap, clientId);
    m.put(CommonClientConfigs.DEFAULT_API_TIMEOUT_MS_CONFIG, 30_000);
    m.put(CommonClientConfigs.REQUEST_TIMEOUT_MS_CONFIG, 15_000);
    return m;
  }

  private static Map<String, Object> base(String bootstrap, String clientId) {
    Map<String, Object> m = new HashMap<>();
    m.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    if (clientId != null) {
      m.put(CommonClientConfigs.CLIENT_ID_CONFIG, clientId);
    }
    return m;
  }
}
