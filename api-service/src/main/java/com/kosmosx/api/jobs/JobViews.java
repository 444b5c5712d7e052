package com.kosmosx.api.jobs;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.kosmosx.api.api.JobView;
import com.kosmosx.api.db.JobRow;
import com.kosmosx.contracts.BillableUnits;
import com.kosmosx.contracts.Billing;
import com.kosmosx.contracts.JobType;
import com.kosmosx.contracts.Json;
import com.kosmosx.contracts.PriceList;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;

/** Builds the job object of API.md from a row: the one shape of GET, submit, lists and webhooks. */
public final class JobViews {
  private final PriceList prices;
  private final ObjectMapper wire = Json.mapper();

  public JobViews(PriceList prices) {
    this.prices = prices;
  }

  public JobView view(JobRow r) {
    JobView.Usage usage = null;
    // Billed jobs show what they are billed for: succeeded ones, and ones canceled while they
    // ran (the work done before the cancel).
    if (r.inputTokens() != null && BillableUnits.billed(r.status(), true)) {
      JobType type = JobType.fromWire(r.type());
      long images = r.images() == null ? 0 : r.images();
      long units = BillableUnits.units(type, r.inputTokens(), r.outputTokens(), images);
      usage =
          new JobView.Usage(
              r.inputTokens(),
              r.outputTokens(),
              type == JobType.TEXT ? units : 0,
              (int) images,
              type == JobType.IMAGE ? units : 0,
              // What the job costs at pay-as-you-go prices, exact to six places (invoices round
              // once per line; dedicated plans bill through their allowance instead).
              Billing.paygAmount(prices.product(type), units)
                  .setScale(6, java.math.RoundingMode.HALF_UP)
                  .toPlainString());
    }
    JobView.Error error =
        r.errorCode() == null ? null : new JobView.Error(r.errorCode(), r.errorMessage());
    String self = "/v1/jobs/" + r.id();
    return new JobView(
        r.id(),
        r.type(),
        r.status(),
        utc(r.createdAt()),
        utc(r.startedAt()),
        utc(r.completedAt()),
        read(r.input()),
        read(r.output()),
        usage,
        error,
        read(r.metadata()),
        read(r.webhook()),
        new JobView.Urls(self, self + "/cancel"));
  }

  private static OffsetDateTime utc(OffsetDateTime t) {
    return t == null ? null : t.withOffsetSameInstant(ZoneOffset.UTC);
  }

  String write(Object value) {
    try {
      return wire.writeValueAsString(value);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot serialise " + value.getClass().getSimpleName(), e);
    }
  }

  private JsonNode read(String json) {
    if (json == null) {
      return null;
    }
    try {
      return wire.readTree(json);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("corrupt JSON in jobs table", e);
    }
  }
}
