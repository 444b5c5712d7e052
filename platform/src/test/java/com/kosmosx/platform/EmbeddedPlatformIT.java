package com.kosmosx.platform;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EmbeddedPlatformIT {

  @Test
  void kafkaKeepsItsDataAcrossARestartOnTheSamePort(@TempDir Path dir) throws Exception {
    var kafka = new EmbeddedKafka(dir, Ports.free(), Ports.free(), Map.of()).start();
    try {
      try (Admin admin = Admin.create(Map.of("bootstrap.servers", kafka.bootstrapServers()))) {
        admin.createTopics(List.of(new NewTopic("t", 1, (short) 1))).all().get();
      }
      produce(kafka, "before");
      kafka.stop();
      assertThat(Ports.isOpen(kafka.port())).isFalse();

      kafka.start();
      produce(kafka, "after");
      assertThat(consumeAll(kafka)).containsExactly("before", "after");
    } finally {
      kafka.stop();
    }
  }

  @Test
  void postgresKeepsItsDataAcrossARestart(@TempDir Path dir) throws Exception {
    var pg = new EmbeddedPostgresServer(dir.resolve("pg"), Ports.free()).start();
    try {
      String url = pg.ensureDatabase("kosmos");
      try (Connection c = DriverManager.getConnection(url, "postgres", "");
          Statement s = c.createStatement()) {
        s.execute("CREATE TABLE kept (v text)");
        s.execute("INSERT INTO kept VALUES ('survives')");
      }
      pg.stop();
      pg.start();
      assertThat(pg.ensureDatabase("kosmos")).isEqualTo(url);
      try (Connection c = DriverManager.getConnection(url, "postgres", "");
          Statement s = c.createStatement();
          ResultSet rs = s.executeQuery("SELECT v FROM kept")) {
        assertThat(rs.next()).isTrue();
        assertThat(rs.getString(1)).isEqualTo("survives");
      }
      assertThat(Files.exists(dir.resolve("pg").resolve("PG_VERSION"))).isTrue();
    } finally {
      pg.stop();
    }
  }

  @Test
  void sharedPlatformIsStartedOncePerJvm() {
    assertThat(SharedPlatform.kafka()).isSameAs(SharedPlatform.kafka());
    assertThat(SharedPlatform.postgres()).isSameAs(SharedPlatform.postgres());
    assertThat(SharedPlatform.freshDatabase("it")).startsWith("jdbc:postgresql://localhost:");
  }

  private static void produce(EmbeddedKafka kafka, String value) throws Exception {
    Properties p = new Properties();
    p.put("bootstrap.servers", kafka.bootstrapServers());
    p.put("acks", "all");
    try (var producer = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
      producer.send(new ProducerRecord<>("t", "k", value)).get();
    }
  }

  private static List<String> consumeAll(EmbeddedKafka kafka) {
    Properties p = new Properties();
    p.put("bootstrap.servers", kafka.bootstrapServers());
    p.put("group.id", "g-" + UUID.randomUUID());
    p.put("auto.offset.reset", "earliest");
    List<String> values = new ArrayList<>();
    try (var consumer =
        new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer())) {
      consumer.subscribe(List.of("t"));
      long end = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      while (values.size() < 2 && System.nanoTime() < end) {
        for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
          values.add(r.value());
        }
      }
    }
    return values;
  }
}
