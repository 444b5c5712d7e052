package com.kosmosx.localstack;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The pipeline on a replicated cluster: three KRaft brokers (every topic, the internal ones too,
 * replicated 3 times with min.insync.replicas 2), an API and a worker (the soak, {@code ./kosmos
 * soak --cluster}, runs two of each with every kind of kill). A broker is SIGKILLed once a third of
 * the jobs are accepted, while clients keep submitting with idempotency keys and the worker is
 * mid-batch; it stays down. Every accepted job ends, each success is billed exactly once, webhooks
 * match, and the month's reconciliation (jobs = metering rollups = invoice) is exact.
 */
class ClusterIT {

  @Test
  void aBrokerKilledMidBatchLosesNoAcceptedJobAndUsageStaysExact() throws Exception {
    Soak.Result r =
        Soak.run(
            Cli.ROOT,
            Files.createTempDirectory("kosmos-cluster-it"),
            new Soak.Plan(300, 8, 3, 1, 1, List.of("broker"), 100),
            System.out);

    assertThat(r.kills()).isEqualTo(Map.of("broker", 1));
    assertThat(r.accepted()).isEqualTo(300);
    assertThat(r.terminal()).as("every accepted job ended").isEqualTo(300);
    assertThat(r.byStatus()).containsEntry("succeeded", 300);
    assertThat(r.distinctUsage()).as("billed once each").isEqualTo(300);
    assertThat(r.completions()).as("one completion webhook each").isEqualTo(300);
    assertThat(r.reconciled()).as(r.reconciliation()).isTrue();
  }
}
