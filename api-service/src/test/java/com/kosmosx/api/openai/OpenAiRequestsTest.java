package com.kosmosx.api.openai;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.kosmosx.api.errors.ApiProblem;
import org.junit.jupiter.api.Test;

/** How OpenAI requests become job requests: the prompt format, the image, the fields' fate. */
class OpenAiRequestsTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  private static OpenAiRequests.Parsed chat(String json) throws Exception {
    return OpenAiRequests.chat(JSON.readTree(json));
  }

  private static String field(String json) {
    try {
      chat(json);
    } catch (ApiProblem p) {
      return String.valueOf(p.extensions().get("field"));
    } catch (Exception e) {
      throw new AssertionError(e);
    }
    throw new AssertionError("accepted: " + json);
  }

  @Test
  void aConversationBecomesKosmosTwosQuestionAnswerPrompt() throws Exception {
    OpenAiRequests.Parsed p =
        chat(
            "{\"model\":\"kosmos-2\",\"messages\":["
                + "{\"role\":\"system\",\"content\":\"Be brief.\"},"
                + "{\"role\":\"user\",\"content\":\"What is a cat?\"},"
                + "{\"role\":\"assistant\",\"content\":\"An animal.\"},"
                + "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"And a dog?\"}]}],"
                + "\"max_tokens\":null,\"stop\":\"\\n\",\"user\":\"u\",\"seed\":1}");
    assertThat(p.request().type()).isEqualTo("text");
    assertThat(p.request().input().prompt())
        .isEqualTo(
            "Be brief.\nQuestion: What is a cat? Answer: An animal.\nQuestion: And a dog? Answer:");
    assertThat(p.request().input().stop()).containsExactly("\n");
    assertThat(p.request().metadata()).containsEntry("openai_user", "u");
    assertThat(p.stream()).isFalse();
    // A statement is a prefix the model continues, as Kosmos-2 is prompted ("An image of").
    assertThat(
            chat("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"An image of\"}]}")
                .request()
                .input()
                .prompt())
        .isEqualTo("An image of");
  }

  @Test
  void oneImageMakesAnImageJobAndAnImageAloneIsCaptioned() throws Exception {
    OpenAiRequests.Parsed p =
        chat(
            "{\"model\":\"m\",\"detect_objects\":false,\"messages\":[{\"role\":\"user\",\"content\":["
                + "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,AAAA\"}}]}]}");
    assertThat(p.request().type()).isEqualTo("image");
    assertThat(p.request().input().prompt()).isNull(); // the validator's captioning default
    assertThat(p.request().input().image()).startsWith("data:image/png");
    assertThat(p.request().input().detectObjects()).isFalse();
    assertThat(p.imageUrl()).isNull();
    OpenAiRequests.Parsed remote =
        chat(
            "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":["
                + "{\"type\":\"image_url\",\"image_url\":\"https://example.com/a.png\"}]}]}");
    assertThat(remote.imageUrl()).isEqualTo("https://example.com/a.png");
    assertThat(remote.request().input().image()).isNull();
  }

  @Test
  void whatTheModelCannotDoIsRefusedByName() {
    String image = "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,AA\"}}";
    assertThat(
            field(
                "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":["
                    + image
                    + ","
                    + image
                    + "]}]}"))
        .isEqualTo("messages[0].content[1]");
    assertThat(
            field(
                "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"content\":["
                    + image
                    + "]}]}"))
        .isEqualTo("messages[0].content[0]");
    assertThat(
            field(
                "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_audio\"}]}]}"))
        .isEqualTo("messages[0].content[0].type");
    assertThat(field("{\"model\":\"m\",\"messages\":[]}")).isEqualTo("messages");
    assertThat(field("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}")).isEqualTo("model");
    assertThat(
            field(
                "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"tool_calls\":[]}]}"))
        .isEqualTo("messages[0].tool_calls");
    assertThat(
            field(
                "{\"model\":\"m\",\"functions\":[],\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}"))
        .isEqualTo("functions");
  }

  @Test
  void completionsTakeOneStringPrompt() throws Exception {
    assertThat(
            OpenAiRequests.completion(
                    JSON.readTree(
                        "{\"model\":\"m\",\"prompt\":[\"Once\"],\"echo\":false,\"best_of\":1}"))
                .request()
                .input()
                .prompt())
        .isEqualTo("Once");
    assertThatThrownBy(
            () -> OpenAiRequests.completion(JSON.readTree("{\"model\":\"m\",\"prompt\":[1,2,3]}")))
        .isInstanceOf(ApiProblem.class)
        .hasMessageContaining("token-id prompts");
    assertThatThrownBy(
            () ->
                OpenAiRequests.completion(
                    JSON.readTree("{\"model\":\"m\",\"prompt\":\"x\",\"echo\":true}")))
        .isInstanceOf(ApiProblem.class)
        .hasMessageContaining("echo");
  }
}
