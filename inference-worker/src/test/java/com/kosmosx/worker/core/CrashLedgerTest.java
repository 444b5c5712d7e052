package com.kosmosx.worker.core;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CrashLedgerTest {
  @TempDir Path dir;

  @Test
  void jobsInFlightWhenTheWorkerDiedCountACrashEach() throws Exception {
    Path file = dir.resolve("w-shared.json");
    CrashLedger first = new CrashLedger(file);
    first.begin(List.of("job_a", "job_b"));
    // Killed here: the next start finds both in flight.
    CrashLedger second = new CrashLedger(file);
    assertThat(second.crashes("job_a")).isEqualTo(1);
    assertThat(second.crashes("job_b")).isEqualTo(1);
    second.begin(List.of("job_a"));
    CrashLedger third = new CrashLedger(file);
    assertThat(third.crashes("job_a")).isEqualTo(2);
    assertThat(third.crashes("job_b")).isEqualTo(1);
    // A batch that ends forgives its jobs; a restart after a clean end counts nothing.
    third.begin(List.of("job_b"));
    third.end();
    third.forget("job_a");
    CrashLedger fourth = new CrashLedger(file);
    assertThat(fourth.crashes("job_a")).isZero();
    assertThat(fourth.crashes("job_b")).isZero();
    assertThat(Files.readString(file)).doesNotContain("job_");
  }

  @Test
  void aJobWhoseOutcomeIsCommittedIsRememberedAndNotBlamed() throws Exception {
    Path file = dir.resolve("w2.json");
    CrashLedger ledger = new CrashLedger(file);
    ledger.begin(List.of("job_done", "job_running"));
    ledger.settled("job_done");
    // Killed here: job_done's offset may still be behind job_running's.
    CrashLedger after = new CrashLedger(file);
    assertThat(after.isSettled("job_done")).isTrue();
    assertThat(after.crashes("job_done")).isZero();
    assertThat(after.crashes("job_running")).isEqualTo(1);
    for (int i = 0; i < CrashLedger.SETTLED_MEMORY + 5; i++) {
      after.settled("job_" + i);
    }
    assertThat(after.isSettled("job_done")).isFalse();
    assertThat(after.isSettled("job_" + (CrashLedger.SETTLED_MEMORY + 4))).isTrue();
  }

  @Test
  void theJobsOfOneCommitAreSettledTogether() throws Exception {
    Path file = dir.resolve("w3.json");
    CrashLedger ledger = new CrashLedger(file);
    ledger.begin(List.of("job_1", "job_2", "job_3"));
    ledger.settled(List.of("job_1", "job_2"));
    CrashLedger after = new CrashLedger(file); // killed before job_3 ended
    assertThat(after.isSettled("job_1")).isTrue();
    assertThat(after.isSettled("job_2")).isTrue();
    assertThat(after.crashes("job_1")).isZero();
    assertThat(after.crashes("job_3")).isEqualTo(1);
  }

  @Test
  void aDamagedFileStartsAfresh() throws Exception {
    Path file = dir.resolve("w.json");
    Files.writeString(file, "{not json");
    assertThat(new CrashLedger(file).crashes("job_a")).isZero();
  }
}
