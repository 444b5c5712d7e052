package com.kosmosx.contracts;

import java.util.Map;
import java.util.Objects;
import org.apache.kafka.common.serialization.Serde;

/**
 * One Kafka topic with its key and value types. Services never write a topic name as a string: they
 * take a {@code Topic} from {@link Topics}, so the name, the serdes and the cleanup policy cannot
 * drift apart.
 */
public record Topic<K, V>(
    String name, Serde<K> keySerde, Serde<V> valueSerde, Map<String, String> config) {

  public Topic {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(keySerde, "keySerde");
    Objects.requireNonNull(valueSerde, "valueSerde");
    config = Map.copyOf(config);
  }

  public byte[] serializeValue(V value) {
    return valueSerde.serializer().serialize(name, value);
  }

  public V deserializeValue(byte[] bytes) {
    return valueSerde.deserializer().deserialize(name, bytes);
  }
}
