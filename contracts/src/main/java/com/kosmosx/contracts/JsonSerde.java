package com.kosmosx.contracts;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serializer;

/**
 * JSON serde for a wire record. A record that cannot be read raises {@link SerializationException},
 * which consumers treat as a poison message (dead-letter), never as a reason to stop.
 */
public final class JsonSerde<T> implements Serde<T>, Serializer<T>, Deserializer<T> {
  private final Class<T> type;
  private final ObjectMapper mapper;

  public JsonSerde(Class<T> type) {
    this.type = type;
    this.mapper = Json.mapper();
  }

  @Override
  public byte[] serialize(String topic, T data) {
    if (data == null) {
      return null;
    }
    try {
      return mapper.writeValueAsBytes(data);
    } catch (IOException e) {
      throw new SerializationException(
          "cannot write " + type.getSimpleName() + " for topic " + topic, e);
    }
  }

  @Override
  public T deserialize(String topic, byte[] data) {
    if (data == null) {
      return null;
    }
    try {
      return mapper.readValue(data, type);
    } catch (IOException e) {
      throw new SerializationException(
          "cannot read " + type.getSimpleName() + " from topic " + topic + ": " + e.getMessage(),
          e);
    }
  }

  @Override
  public void configure(java.util.Map<String, ?> configs, boolean isKey) {
    // nothing to configure: the mapping is fixed by Json
  }

  @Override
  public void close() {
    // stateless
  }

  @Override
  public Serializer<T> serializer() {
    return this;
  }

  @Override
  public Deserializer<T> deserializer() {
    return this;
  }
}
