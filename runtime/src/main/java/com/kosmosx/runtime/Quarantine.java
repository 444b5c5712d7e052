package com.kosmosx.runtime;

/**
 * Where a loop sets aside a record or row it cannot apply, with the reason, so the rest flows; an
 * operator lists and replays them (the API keeps a table; a worker, which has no database, uses the
 * jobs dead-letter topic).
 */
@FunctionalInterface
public interface Quarantine {

  /**
   * One set-aside record.
   *
   * @param loop the loop that could not apply it
   * @param source where it came from: {@code topic-partition@offset}, {@code outbox:<id>}, …
   * @param topic the topic it belongs on, when there is one (replay sends it there)
   * @param key its key (a job id, an account id), may be null
   * @param reason why it was set aside
   * @param payload its bytes, as they were
   */
  record Poison(
      String loop, String source, String topic, String key, String reason, byte[] payload) {}

  void put(Poison poison);
}
