package com.kosmosx.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.junit.jupiter.api.Test;
import org.slf4j.MDC;

class TracingTest {

  @Test
  void aClientsTraceparentIsKeptAndAnythingMalformedIgnored() {
    String id = "4bf92f3577b34da6a3ce929d0e0e4736";
    assertThat(Tracing.traceId("00-" + id + "-00f067aa0ba902b7-01")).isEqualTo(id);
    assertThat(Tracing.traceId(" 00-" + id + "-00f067aa0ba902b7-00 ")).isEqualTo(id);
    // W3C: all-zero ids are invalid; upper case, wrong lengths and junk are not a traceparent.
    assertThat(Tracing.traceId("00-" + "0".repeat(32) + "-00f067aa0ba902b7-01")).isNull();
    assertThat(Tracing.traceId("00-" + id + "-0000000000000000-01")).isNull();
    assertThat(Tracing.traceId("00-" + id.toUpperCase() + "-00f067aa0ba902b7-01")).isNull();
    assertThat(Tracing.traceId("00-" + id + "-00f067aa0ba902b7")).isNull();
    assertThat(Tracing.traceId("x".repeat(10_000))).isNull();
    assertThat(Tracing.traceId("00-" + id + "-00f067aa0ba902b7-01\n{\"level\":\"x\"}")).isNull();
    assertThat(Tracing.traceId((String) null)).isNull();
    assertThat(Tracing.newTraceId()).matches("[0-9a-f]{32}").isNotEqualTo(Tracing.newTraceId());
  }

  @Test
  void theTraceTravelsInRecordHeadersWithANewSpanEachHop() {
    String id = Tracing.newTraceId();
    RecordHeaders headers = new RecordHeaders();
    Tracing.addTo(headers, id);
    Tracing.addTo(headers, id); // replaced, not repeated
    assertThat(headers.headers(Tracing.HEADER)).hasSize(1);
    String value = new String(headers.lastHeader(Tracing.HEADER).value(), StandardCharsets.UTF_8);
    assertThat(value).matches("00-" + id + "-[0-9a-f]{16}-01");
    assertThat(Tracing.traceId(headers)).isEqualTo(id);
    assertThat(Tracing.traceId(new RecordHeaders())).isNull();
    RecordHeaders none = new RecordHeaders();
    Tracing.addTo(none, null);
    assertThat(none.toArray()).isEmpty();
  }

  @Test
  void aJobScopeSetsTheMdcAndRestoresWhatWasThere() {
    MDC.put(Tracing.TRACE_ID, "outer");
    try (var scope = Tracing.job("job_1", "acc_1", "shared", "inner")) {
      assertThat(MDC.get(Tracing.JOB_ID)).isEqualTo("job_1");
      assertThat(MDC.get(Tracing.ACCOUNT_ID)).isEqualTo("acc_1");
      assertThat(MDC.get(Tracing.LANE)).isEqualTo("shared");
      assertThat(MDC.get(Tracing.TRACE_ID)).isEqualTo("inner");
    }
    assertThat(MDC.get(Tracing.TRACE_ID)).isEqualTo("outer");
    assertThat(MDC.get(Tracing.JOB_ID)).isNull();
    MDC.clear();
  }
}
