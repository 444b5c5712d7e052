package com.kosmosx.runtime;

import java.time.Duration;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.producer.Producer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Closes Kafka clients within a bound: a consumer's default close waits 30 s, a producer's forever,
 * for a broker that is away; a loop resetting after a failure, or a service stopping, must not.
 */
public final class Clients {
  private static final Logger LOG = LoggerFactory.getLogger(Clients.class);
  static final Duration BOUND = Duration.ofSeconds(5);

  private Clients() {}

  /** Closes {@code c} (if not null) within 5 s; a failure to close is only logged. */
  public static void close(Consumer<?, ?> c, String what) {
    if (c != null) {
      try {
        c.close(BOUND);
      } catch (RuntimeException e) {
        LOG.debug("closing {} failed", what, e);
      }
    }
  }

  /** Closes {@code p} (if not null) within 5 s; a failure to close is only logged. */
  public static void close(Producer<?, ?> p, String what) {
    if (p != null) {
      try {
        p.close(BOUND);
      } catch (RuntimeException e) {
        LOG.debug("closing {} failed", what, e);
      }
    }
  }
}
