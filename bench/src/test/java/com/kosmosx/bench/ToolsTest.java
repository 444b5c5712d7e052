package com.kosmosx.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** Kafka's tools print their figures as text; these are the lines their 4.x format strings make. */
class ToolsTest {

  @Test
  void readsTheFinalProducerPerformanceSummaryNotAProgressLine() {
    String out =
        "143210 records sent, 28642.0 records/sec (11.47 MB/sec), 955.3 ms avg latency,"
            + " 1604.0 ms max latency.\n"
            + "300000 records sent, 31245.183274 records/sec (12.51 MB/sec), 870.12 ms avg"
            + " latency, 1604.00 ms max latency, 812 ms 50th, 1422 ms 95th, 1550 ms 99th,"
            + " 1598 ms 99.9th.\n";
    Tools.Throughput t = Tools.parseProducerPerformance(out);
    assertThat(t.recordsPerSecond()).isEqualTo(31245.183274);
    assertThat(t.p50Ms()).isEqualTo(812);
    assertThat(t.p99Ms()).isEqualTo(1550);
  }

  @Test
  void readsEndToEndLatency() {
    String out =
        "0\t2.1\n1000\t1.2\nAvg latency: 1.3775 ms\nPercentiles: 50th = 1, 99th = 4, 99.9th = 9\n";
    Tools.Latency l = Tools.parseEndToEndLatency(out);
    assertThat(l.avgMs()).isEqualTo(1.3775);
    assertThat(l.p50Ms()).isEqualTo(1);
    assertThat(l.p99Ms()).isEqualTo(4);
  }

  @Test
  void saysSoWhenAToolPrintedNoFigures() {
    assertThatThrownBy(() -> Tools.parseProducerPerformance("Exception in thread main"))
        .hasMessageContaining("no ProducerPerformance summary");
    assertThatThrownBy(() -> Tools.parseEndToEndLatency("Avg latency: 1.0 ms"))
        .hasMessageContaining("no EndToEndLatency figures");
  }

  @Test
  void readsProcFields() {
    String status = "Name:\tjava\nVmPeak:\t 9000 kB\nVmHWM:\t  412345 kB\nVmRSS:\t 400000 kB\n";
    assertThat(Machine.kb(status, "VmHWM:")).isEqualTo(412_345);
    assertThat(Machine.kb(status, "Missing:")).isZero();
    assertThat(Machine.peakRssBytes(ProcessHandle.of(ProcessHandle.current().pid())))
        .isGreaterThan(10L * 1024 * 1024);
  }

  @Test
  void tablesEveryRowWithItsBaseline() {
    String t =
        Bench.table(
            java.util.List.of(
                new Bench.Row("a", "1/s", "b: 2/s", "0.50", ">= 0.5", Bench.met(true)),
                new Bench.Row("c", "3 ms", "", "", "<= 2 ms", Bench.met(false))));
    assertThat(t.split("\n")).hasSize(4);
    assertThat(t).contains("| a | 1/s | b: 2/s | 0.50 | >= 0.5 | yes |");
    assertThat(t).contains("| c | 3 ms |  |  | <= 2 ms | **no** |");
  }
}
