package com.kosmosx.localstack;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import javax.imageio.ImageIO;

/**
 * Twenty concurrent uploads of a 20 MB image (the contract's largest) against the stack's real API
 * process at its 384 MB heap: multipart, base64 in JSON and data: URLs together, while another
 * account submits text jobs. Every upload is answered (202, or 503 {@code unavailable} with
 * Retry-After when the shared body budget stays full for 30 s), never a reset or a 500; the API
 * lives on and the other account's jobs succeed.
 */
final class UploadFlood {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** What the flood saw: statuses of the uploads, and the bystander's job ids. */
  record Result(Map<Integer, Integer> statuses, String bystanderKey, List<String> bystanderJobs) {}

  private UploadFlood() {}

  /** A PNG of noise just under 20 MiB (noise does not compress). */
  static byte[] noisePng() throws Exception {
    int side = 2_580;
    BufferedImage img = new BufferedImage(side, side, BufferedImage.TYPE_INT_RGB);
    Random r = new Random(42);
    for (int y = 0; y < side; y++) {
      for (int x = 0; x < side; x++) {
        img.setRGB(x, y, r.nextInt(1 << 24));
      }
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream(21 << 20);
    ImageIO.write(img, "png", out);
    return out.toByteArray();
  }

  static String signUp(HttpClient http, String api, String name) throws Exception {
    HttpResponse<String> r =
        http.send(
            HttpRequest.newBuilder(URI.create(api + "/v1/accounts"))
                .header("Content-Type", "application/json")
                .POST(
                    HttpRequest.BodyPublishers.ofString(
                        "{\"username\":\""
                            + name
                            + "\",\"email\":\""
                            + name
                            + "@example.com\",\"password\":\"correct horse battery\"}"))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).as(r.body()).isEqualTo(201);
    return JSON.readTree(r.body()).path("api_key").path("key").asText();
  }

  static Result run(String api) throws Exception {
    HttpClient http =
        HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10))
            .build();
    String flooder = signUp(http, api, "flood" + UUID.randomUUID().toString().substring(0, 6));
    String bystander = signUp(http, api, "calm" + UUID.randomUUID().toString().substring(0, 6));
    byte[] png = noisePng();
    assertThat(png.length).isBetween(19 << 20, 20 << 20);
    String b64 = Base64.getEncoder().encodeToString(png);
    byte[] asBase64 =
        ("{\"type\":\"image\",\"input\":{\"image\":\"" + b64 + "\",\"max_tokens\":4}}")
            .getBytes(StandardCharsets.US_ASCII);
    byte[] asDataUrl =
        ("{\"type\":\"image\",\"input\":{\"image\":\"data:image/png;base64,"
                + b64
                + "\",\"max_tokens\":4}}")
            .getBytes(StandardCharsets.US_ASCII);
    String boundary = "flood" + UUID.randomUUID();
    ByteArrayOutputStream mp = new ByteArrayOutputStream(png.length + 1024);
    mp.write(
        ("--"
                + boundary
                + "\r\nContent-Disposition: form-data; name=\"request\"\r\n"
                + "Content-Type: application/json\r\n\r\n"
                + "{\"type\":\"image\",\"input\":{\"max_tokens\":4}}\r\n--"
                + boundary
                + "\r\nContent-Disposition: form-data; name=\"image\"; filename=\"n.png\"\r\n"
                + "Content-Type: image/png\r\n\r\n")
            .getBytes(StandardCharsets.US_ASCII));
    mp.write(png);
    mp.write(("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.US_ASCII));
    byte[] multipart = mp.toByteArray();

    List<CompletableFuture<HttpResponse<String>>> uploads = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      byte[] body = i % 3 == 0 ? multipart : i % 3 == 1 ? asBase64 : asDataUrl;
      String type = i % 3 == 0 ? "multipart/form-data; boundary=" + boundary : "application/json";
      uploads.add(
          http.sendAsync(
              HttpRequest.newBuilder(URI.create(api + "/v1/jobs"))
                  .timeout(Duration.ofMinutes(3))
                  .header("Authorization", "Bearer " + flooder)
                  .header("Content-Type", type)
                  .POST(HttpRequest.BodyPublishers.ofByteArray(body))
                  .build(),
              HttpResponse.BodyHandlers.ofString()));
    }
    // Meanwhile another account works as usual.
    List<String> calm = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      HttpResponse<String> r =
          http.send(
              HttpRequest.newBuilder(URI.create(api + "/v1/jobs"))
                  .timeout(Duration.ofMinutes(1))
                  .header("Authorization", "Bearer " + bystander)
                  .header("Content-Type", "application/json")
                  .POST(
                      HttpRequest.BodyPublishers.ofString(
                          "{\"type\":\"text\",\"input\":{\"prompt\":\"A cat\",\"max_tokens\":4}}"))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
      calm.add(JSON.readTree(r.body()).path("id").asText());
    }
    Map<Integer, Integer> statuses = new TreeMap<>();
    for (CompletableFuture<HttpResponse<String>> f : uploads) {
      HttpResponse<String> r = f.join(); // a reset would throw here
      statuses.merge(r.statusCode(), 1, Integer::sum);
      if (r.statusCode() != 202) {
        JsonNode p = JSON.readTree(r.body());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(503);
        assertThat(p.path("code").asText()).isEqualTo("unavailable");
        assertThat(r.headers().firstValue("Retry-After")).isPresent();
      }
    }
    HttpResponse<String> ping =
        http.send(
            HttpRequest.newBuilder(URI.create(api + "/ping")).build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(ping.statusCode()).as("the API lives on").isEqualTo(200);
    return new Result(statuses, bystander, calm);
  }
}
