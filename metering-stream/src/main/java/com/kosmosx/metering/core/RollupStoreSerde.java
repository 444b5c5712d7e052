package com.kosmosx.metering.core;

import com.kosmosx.contracts.AccountPlan;
import com.kosmosx.contracts.JobType;
import com.kosmosx.contracts.UsageRollup;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.time.Instant;
import java.time.LocalDate;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serializer;

/**
 * A compact binary form of {@link UsageRollup} for the rollup store and its changelog, which only
 * this app reads. Every event reads and writes three rollups, and JSON with decimals was the
 * largest CPU cost per event; the rollups topic, which other services read, stays JSON.
 *
 * <p>Layout: a format byte, then each field in declaration order. Enums are written by name and
 * decimals as scale plus unscaled bytes, so nothing is lost and a reordered enum cannot misread.
 * Nullable fields have a presence byte. A changelog written by another format byte is refused
 * loudly (rebuild by a new application id, README "Metering").
 */
final class RollupStoreSerde implements Serde<UsageRollup> {
  private static final byte FORMAT = 1;

  @Override
  public Serializer<UsageRollup> serializer() {
    return (topic, r) -> r == null ? null : write(r);
  }

  @Override
  public Deserializer<UsageRollup> deserializer() {
    return (topic, bytes) -> bytes == null ? null : read(bytes);
  }

  static byte[] write(UsageRollup r) {
    ByteArrayOutputStream buf = new ByteArrayOutputStream(160);
    try (DataOutputStream out = new DataOutputStream(buf)) {
      out.writeByte(FORMAT);
      out.writeUTF(r.accountId());
      string(out, r.product() == null ? null : r.product().wire());
      string(out, r.day() == null ? null : r.day().toString());
      out.writeLong(r.requests());
      out.writeLong(r.inputTokens());
      out.writeLong(r.outputTokens());
      out.writeLong(r.billableTokens());
      out.writeLong(r.images());
      out.writeLong(r.billableImages());
      string(out, r.period() == null ? null : r.period().name());
      out.writeBoolean(r.periodStart() != null);
      if (r.periodStart() != null) {
        out.writeLong(r.periodStart().getEpochSecond());
        out.writeInt(r.periodStart().getNano());
      }
      string(out, r.plan() == null ? null : r.plan().name());
      out.writeBoolean(r.adjustment());
      decimal(out, r.paygAmount());
      out.writeLong(r.detectionImages());
      decimal(out, r.detectionAmount());
      out.writeLong(r.dedicatedUnits());
      out.writeLong(r.allowanceUsed());
      out.writeLong(r.overageUnits());
      decimal(out, r.overageAmount());
    } catch (IOException e) {
      throw new UncheckedIOException(e); // a byte array stream does not fail
    }
    return buf.toByteArray();
  }

  static UsageRollup read(byte[] bytes) {
    if (bytes.length == 0 || bytes[0] != FORMAT) {
      throw new SerializationException(
          "rollup store format "
              + (bytes.length == 0 ? "empty" : bytes[0])
              + ", expected "
              + FORMAT);
    }
    try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes))) {
      in.readByte();
      String account = in.readUTF();
      String product = string(in);
      String day = string(in);
      long requests = in.readLong();
      long inputTokens = in.readLong();
      long outputTokens = in.readLong();
      long billableTokens = in.readLong();
      long images = in.readLong();
      long billableImages = in.readLong();
      String period = string(in);
      Instant start = in.readBoolean() ? Instant.ofEpochSecond(in.readLong(), in.readInt()) : null;
      String plan = string(in);
      boolean adjustment = in.readBoolean();
      BigDecimal payg = decimal(in);
      long detectionImages = in.readLong();
      BigDecimal detection = decimal(in);
      long dedicated = in.readLong();
      long allowance = in.readLong();
      long overageUnits = in.readLong();
      BigDecimal overage = decimal(in);
      return new UsageRollup(
          account,
          product == null ? null : JobType.fromWire(product),
          day == null ? null : LocalDate.parse(day),
          requests,
          inputTokens,
          outputTokens,
          billableTokens,
          images,
          billableImages,
          period == null ? null : UsageRollup.Period.valueOf(period),
          start,
          plan == null ? null : AccountPlan.PlanKind.valueOf(plan),
          adjustment,
          payg,
          detectionImages,
          detection,
          dedicated,
          allowance,
          overageUnits,
          overage);
    } catch (IOException | RuntimeException e) {
      throw new SerializationException("unreadable rollup store value", e);
    }
  }

  private static void string(DataOutputStream out, String s) throws IOException {
    out.writeBoolean(s != null);
    if (s != null) {
      out.writeUTF(s);
    }
  }

  private static String string(DataInputStream in) throws IOException {
    return in.readBoolean() ? in.readUTF() : null;
  }

  private static void decimal(DataOutputStream out, BigDecimal d) throws IOException {
    out.writeBoolean(d != null);
    if (d != null) {
      byte[] unscaled = d.unscaledValue().toByteArray();
      out.writeInt(d.scale());
      out.writeShort(unscaled.length);
      out.write(unscaled);
    }
  }

  private static BigDecimal decimal(DataInputStream in) throws IOException {
    if (!in.readBoolean()) {
      return null;
    }
    int scale = in.readInt();
    byte[] unscaled = new byte[in.readUnsignedShort()];
    in.readFully(unscaled);
    return new BigDecimal(new BigInteger(unscaled), scale);
  }
}
