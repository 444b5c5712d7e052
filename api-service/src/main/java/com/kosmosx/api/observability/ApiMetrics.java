package com.kosmosx.api.observability;

import com.kosmosx.api.db.OutboxDao;
import com.kosmosx.api.jobs.Lanes;
import com.kosmosx.api.streaming.StreamRelay;
import com.kosmosx.runtime.Metrics;
import java.util.Map;
import org.jdbi.v3.core.Jdbi;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The API's gauges, read at scrape time: the outbox (depth and the age of its oldest row: a growing
 * age means Kafka is not taking jobs), every lane's worker group (members and lag, as an operator
 * needs them to see a lane nobody serves), and the streams this instance holds open.
 */
public final class ApiMetrics {
  private static final Logger LOG = LoggerFactory.getLogger(ApiMetrics.class);

  /** Requests refused with 429, by the problem's code. */
  public static final io.prometheus.metrics.core.metrics.Counter REFUSALS =
      Metrics.counter(
          "kosmos_rate_limit_refusals_total",
          "Requests refused with 429, by code (rate_limited, too_many_pending_jobs,"
              + " too_many_streams)",
          "code");

  static {
    REFUSALS.initLabelValues("rate_limited");
    REFUSALS.initLabelValues("too_many_streams");
  }

  private ApiMetrics() {}

  public static void register(Jdbi jdbi, Lanes lanes, StreamRelay streams) {
    Metrics.gauge(
        "kosmos_outbox_depth",
        "Jobs and events written to the outbox and not yet published to Kafka",
        cb -> cb.call(jdbi.withExtension(OutboxDao.class, OutboxDao::pending)));
    Metrics.gauge(
        "kosmos_outbox_oldest_age_seconds",
        "Age of the oldest row in the outbox (0 when empty)",
        cb -> cb.call(jdbi.withExtension(OutboxDao.class, OutboxDao::oldestAgeSeconds)));
    Metrics.gauge(
        "kosmos_lane_consumers",
        "Members of a lane's worker consumer group (0: nobody runs the lane's jobs)",
        cb -> laneStats(lanes).forEach((lane, s) -> cb.call(s.consumers(), lane)),
        "lane");
    Metrics.gauge(
        "kosmos_lane_consumer_lag",
        "Jobs published to a lane and not yet taken by its workers (committed offsets)",
        cb -> laneStats(lanes).forEach((lane, s) -> cb.call(s.lag(), lane)),
        "lane");
    Metrics.gauge(
        "kosmos_open_streams",
        "Streams (SSE) this API instance holds open",
        cb -> cb.call(streams.open()));
  }

  private static Map<String, Lanes.LaneStats> laneStats(Lanes lanes) {
    try {
      return lanes.stats();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return Map.of();
    } catch (Exception e) {
      LOG.debug("lane statistics unavailable: {}", e.toString());
      return Map.of();
    }
  }
}
