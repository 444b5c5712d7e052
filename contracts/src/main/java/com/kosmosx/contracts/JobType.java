package com.kosmosx.contracts;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import java.util.Locale;

/** The two products: text generation and image analysis. Also the billing product. */
public enum JobType {
  TEXT,
  IMAGE;

  @JsonValue
  public String wire() {
    return name().toLowerCase(Locale.ROOT);
  }

  @JsonCreator
  public static JobType fromWire(String value) {
    for (JobType t : values()) {
      if (t.wire().equals(value)) {
        return t;
      }
    }
    throw new IllegalArgumentException("unknown job type: " + value);
  }
}
