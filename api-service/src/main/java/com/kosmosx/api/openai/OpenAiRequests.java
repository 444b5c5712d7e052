package com.kosmosx.api.openai;

import com.fasterxml.jackson.databind.JsonNode;
import com.kosmosx.api.api.SubmitJobRequest;
import com.kosmosx.api.errors.ApiProblem;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads OpenAI's chat and completions requests into our job request. Every field OpenAI defines is
 * either used, accepted at its neutral value (and refused otherwise), or refused with a 400 that
 * names it; a field nobody defines is refused too; {@code null} is always "absent" (clients send
 * explicit nulls). The table is in the README ("OpenAI-compatible routes").
 */
public final class OpenAiRequests {
  /** Kosmos-2 is a grounded base model, not chat-tuned: turns become its question-answer form. */
  static final String QUESTION = "Question: ";

  static final String ANSWER = " Answer:";

  private static final Set<String> COMMON =
      Set.of(
          "model",
          "max_tokens",
          "temperature",
          "top_p",
          "stop",
          "seed",
          "stream",
          "stream_options",
          "user",
          "n",
          "logprobs",
          "presence_penalty",
          "frequency_penalty",
          "logit_bias",
          "metadata",
          "store",
          "service_tier",
          "ignore_eos");
  private static final Set<String> CHAT_ONLY =
      Set.of(
          "messages",
          "max_completion_tokens",
          "top_logprobs",
          "response_format",
          "parallel_tool_calls",
          "detect_objects");
  private static final Set<String> COMPLETION_ONLY = Set.of("prompt", "echo", "suffix", "best_of");

  /** Fields we know and refuse: the model cannot do what they ask. */
  private static final Map<String, String> REFUSED =
      Map.ofEntries(
          Map.entry("tools", "Tool calling is not supported by this model."),
          Map.entry("tool_choice", "Tool calling is not supported by this model."),
          Map.entry("functions", "Function calling is not supported by this model."),
          Map.entry("function_call", "Function calling is not supported by this model."),
          Map.entry("audio", "Audio output is not supported by this model."),
          Map.entry("modalities", "Only text output is supported."),
          Map.entry("prediction", "Predicted outputs are not supported."),
          Map.entry("web_search_options", "Web search is not supported."),
          Map.entry("reasoning_effort", "This model does not reason in separate tokens."));

  private OpenAiRequests() {}

  /** A request, read. */
  public record Parsed(
      String model,
      SubmitJobRequest request,
      String imageUrl,
      boolean stream,
      boolean includeUsage) {}

  public static Parsed chat(JsonNode body) {
    Fields f = new Fields(body, union(COMMON, CHAT_ONLY));
    String model = f.requiredString("model");
    Integer maxTokens = f.integer("max_completion_tokens");
    if (maxTokens == null) {
      maxTokens = f.integer("max_tokens");
    }
    Conversation c = conversation(f.get("messages"));
    Boolean detect = f.bool("detect_objects");
    if (detect != null && c.image == null) {
      throw ApiProblem.validation(
          "Field 'detect_objects' applies to a request with an image.", "detect_objects");
    }
    f.neutral("top_logprobs", n -> n.isNumber() && n.asInt() == 0, "is not supported (0 or null)");
    f.neutral(
        "response_format",
        n -> n.isObject() && "text".equals(n.path("type").asText()),
        "is not supported except {\"type\": \"text\"}");
    f.bool("parallel_tool_calls"); // meaningless without tools; any boolean is fine
    Common common = common(f, false);
    SubmitJobRequest.Input input =
        new SubmitJobRequest.Input(
            c.prompt,
            maxTokens,
            common.temperature,
            common.topP,
            common.stop,
            common.seed,
            c.image != null && c.image.startsWith("data:") ? c.image : null,
            c.image == null ? null : detect,
            common.stream ? Boolean.TRUE : null,
            common.ignoreEos);
    return new Parsed(
        model,
        new SubmitJobRequest(c.image == null ? "text" : "image", input, null, common.metadata),
        c.image != null && !c.image.startsWith("data:") ? c.image : null,
        common.stream,
        common.includeUsage);
  }

  public static Parsed completion(JsonNode body) {
    Fields f = new Fields(body, union(COMMON, COMPLETION_ONLY));
    String model = f.requiredString("model");
    JsonNode p = f.get("prompt");
    String prompt;
    if (p == null) {
      throw ApiProblem.validation("Field 'prompt' is required.", "prompt");
    } else if (p.isTextual()) {
      prompt = p.asText();
    } else if (p.isArray() && p.size() == 1 && p.get(0).isTextual()) {
      prompt = p.get(0).asText();
    } else {
      throw ApiProblem.validation(
          "Field 'prompt' is a string (or a list of one string); token-id prompts and several"
              + " prompts in one request are not supported.",
          "prompt");
    }
    f.neutral("echo", n -> n.isBoolean() && !n.asBoolean(), "is not supported (false or null)");
    f.neutral("suffix", n -> false, "is not supported");
    f.neutral("best_of", n -> n.isNumber() && n.asInt() == 1, "is not supported (1 or null)");
    Integer maxTokens = f.integer("max_tokens");
    Common common = common(f, true);
    SubmitJobRequest.Input input =
        new SubmitJobRequest.Input(
            prompt,
            maxTokens,
            common.temperature,
            common.topP,
            common.stop,
            common.seed,
            null,
            null,
            common.stream ? Boolean.TRUE : null,
            common.ignoreEos);
    return new Parsed(
        model,
        new SubmitJobRequest("text", input, null, common.metadata),
        null,
        common.stream,
        common.includeUsage);
  }

  private record Common(
      Double temperature,
      Double topP,
      List<String> stop,
      Long seed,
      boolean stream,
      boolean includeUsage,
      Map<String, String> metadata,
      Boolean ignoreEos) {}

  private static Common common(Fields f, boolean completions) {
    Double temperature = f.number("temperature");
    Double topP = f.number("top_p");
    List<String> stop = null;
    JsonNode s = f.get("stop");
    if (s != null) {
      if (s.isTextual()) {
        stop = List.of(s.asText());
      } else if (s.isArray()) {
        stop = new ArrayList<>();
        for (JsonNode e : s) {
          if (!e.isTextual()) {
            throw ApiProblem.validation("Field 'stop' is a string or a list of strings.", "stop");
          }
          stop.add(e.asText());
        }
        if (stop.isEmpty()) {
          stop = null;
        }
      } else {
        throw ApiProblem.validation("Field 'stop' is a string or a list of strings.", "stop");
      }
    }
    JsonNode seedNode = f.get("seed");
    Long seed = null;
    if (seedNode != null) {
      if (!seedNode.isIntegralNumber() || !seedNode.canConvertToLong()) {
        throw ApiProblem.validation("Field 'seed' is an integer.", "seed");
      }
      seed = seedNode.asLong();
    }
    boolean stream = Boolean.TRUE.equals(f.bool("stream"));
    boolean includeUsage = false;
    JsonNode options = f.get("stream_options");
    if (options != null) {
      if (!stream) {
        throw ApiProblem.validation(
            "Field 'stream_options' is only allowed when 'stream' is true.", "stream_options");
      }
      if (!options.isObject()) {
        throw ApiProblem.validation("Field 'stream_options' is an object.", "stream_options");
      }
      for (Iterator<String> it = options.fieldNames(); it.hasNext(); ) {
        String name = it.next();
        JsonNode v = options.get(name);
        if (v.isNull()) {
          continue;
        }
        if (name.equals("include_usage") && v.isBoolean()) {
          includeUsage = v.asBoolean();
        } else if (name.equals("continuous_usage_stats") && v.isBoolean() && !v.asBoolean()) {
          // vLLM's extension, at its default
        } else {
          throw ApiProblem.validation(
              "Field 'stream_options." + name + "' is not supported.", "stream_options." + name);
        }
      }
    }
    f.neutral("n", n -> n.isNumber() && n.asInt() == 1, "must be 1: one choice per request");
    if (completions) {
      f.neutral("logprobs", n -> n.isNumber() && n.asInt() == 0, "is not supported (0 or null)");
    } else {
      f.neutral("logprobs", n -> n.isBoolean() && !n.asBoolean(), "is not supported");
    }
    f.neutral("presence_penalty", n -> n.isNumber() && n.asDouble() == 0, "is not supported");
    f.neutral("frequency_penalty", n -> n.isNumber() && n.asDouble() == 0, "is not supported");
    f.neutral("logit_bias", n -> n.isObject() && n.isEmpty(), "is not supported");
    f.neutral("store", JsonNode::isBoolean, "is a boolean");
    f.neutral("service_tier", JsonNode::isTextual, "is a string");
    Map<String, String> metadata = new LinkedHashMap<>();
    JsonNode m = f.get("metadata");
    if (m != null) {
      if (!m.isObject()) {
        throw ApiProblem.validation("Field 'metadata' is an object of strings.", "metadata");
      }
      for (Iterator<Map.Entry<String, JsonNode>> it = m.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        if (!e.getValue().isTextual()) {
          throw ApiProblem.validation("Field 'metadata' is an object of strings.", "metadata");
        }
        metadata.put(e.getKey(), e.getValue().asText());
      }
    }
    Boolean ignoreEos = f.bool("ignore_eos"); // vLLM's extension
    String user = f.string("user");
    if (user != null) {
      metadata.put("openai_user", user);
    }
    f.finish();
    return new Common(
        temperature,
        topP,
        stop,
        seed,
        stream,
        includeUsage,
        metadata.isEmpty() ? null : metadata,
        ignoreEos);
  }

  /** The prompt text and the one image of a conversation. */
  private record Conversation(String prompt, String image) {}

  private static Conversation conversation(JsonNode messages) {
    if (messages == null || !messages.isArray() || messages.isEmpty()) {
      throw ApiProblem.validation("Field 'messages' is a non-empty list of messages.", "messages");
    }
    StringBuilder system = new StringBuilder();
    StringBuilder turns = new StringBuilder();
    String image = null;
    boolean endsWithUser = false;
    for (int i = 0; i < messages.size(); i++) {
      String at = "messages[" + i + "]";
      JsonNode m = messages.get(i);
      if (!m.isObject()) {
        throw ApiProblem.validation("Each message is an object.", at);
      }
      for (Iterator<String> it = m.fieldNames(); it.hasNext(); ) {
        String name = it.next();
        if (!Set.of("role", "content", "name").contains(name) && !m.get(name).isNull()) {
          throw ApiProblem.validation(
              "Field '" + at + "." + name + "' is not supported.", at + "." + name);
        }
      }
      String role = m.path("role").asText("");
      if (!Set.of("system", "developer", "user", "assistant").contains(role)) {
        throw ApiProblem.validation(
            "Field '"
                + at
                + ".role' is system, developer, user or assistant (tool messages are not"
                + " supported).",
            at + ".role");
      }
      StringBuilder text = new StringBuilder();
      JsonNode content = m.get("content");
      if (content == null || content.isNull()) {
        if (!role.equals("assistant")) {
          throw ApiProblem.validation("Field '" + at + ".content' is required.", at + ".content");
        }
      } else if (content.isTextual()) {
        text.append(content.asText());
      } else if (content.isArray()) {
        for (int j = 0; j < content.size(); j++) {
          String partAt = at + ".content[" + j + "]";
          JsonNode part = content.get(j);
          String type = part.path("type").asText("");
          if (type.equals("text") && part.path("text").isTextual()) {
            if (!text.isEmpty()) {
              text.append('\n');
            }
            text.append(part.get("text").asText());
          } else if (type.equals("image_url")) {
            if (!role.equals("user")) {
              throw ApiProblem.validation("Only user messages carry images.", partAt);
            }
            if (image != null) {
              throw ApiProblem.validation(
                  "Kosmos-2 takes one image per request; this one has more.", partAt);
            }
            JsonNode url = part.path("image_url");
            String u = url.isTextual() ? url.asText() : url.path("url").asText(null);
            if (u == null || u.isEmpty()) {
              throw ApiProblem.validation(
                  "Field '" + partAt + ".image_url.url' is required.", partAt + ".image_url.url");
            }
            image = u;
          } else {
            throw ApiProblem.validation(
                "Content parts are {\"type\": \"text\"} or {\"type\": \"image_url\"}; '"
                    + type
                    + "' is not supported.",
                partAt + ".type");
          }
        }
      } else {
        throw ApiProblem.validation(
            "Field '" + at + ".content' is a string or a list of content parts.", at + ".content");
      }
      switch (role) {
        case "system", "developer" -> {
          if (!system.isEmpty()) {
            system.append('\n');
          }
          system.append(text);
        }
        case "user" -> {
          if (!turns.isEmpty()) {
            turns.append('\n');
          }
          // A question takes Kosmos-2's VQA form; anything else ("An image of", "Describe this
          // image in detail:") is a prefix the model continues, as Kosmos-2 is prompted.
          String said = text.toString().strip();
          if (said.endsWith("?")) {
            turns.append(QUESTION).append(said).append(ANSWER);
          } else {
            turns.append(said);
          }
          endsWithUser = true;
        }
        default -> {
          if (!text.isEmpty()) {
            turns.append(' ').append(text);
          }
          endsWithUser = false;
        }
      }
    }
    String prompt = (system.isEmpty() ? "" : system + "\n") + turns;
    if (prompt.isBlank()) {
      if (image == null) {
        throw ApiProblem.validation("The messages hold no text.", "messages");
      }
      prompt = null; // an image alone: Kosmos-2's captioning prompt (API.md's default)
    }
    return new Conversation(prompt == null ? null : prompt.strip(), image);
  }

  private static Set<String> union(Set<String> a, Set<String> b) {
    Set<String> s = new java.util.HashSet<>(a);
    s.addAll(b);
    return s;
  }

  /** One request's fields: typed reads that name the field, and the unknown-field check. */
  static final class Fields {
    private final JsonNode body;
    private final Set<String> known;

    Fields(JsonNode body, Set<String> known) {
      if (body == null || !body.isObject()) {
        throw ApiProblem.validation("The body is a JSON object.");
      }
      this.body = body;
      this.known = known;
      for (Iterator<String> it = body.fieldNames(); it.hasNext(); ) {
        String name = it.next();
        if (body.get(name).isNull()) {
          continue;
        }
        if (REFUSED.containsKey(name)) {
          throw ApiProblem.validation("Field '" + name + "': " + REFUSED.get(name), name);
        }
        if (!known.contains(name)) {
          throw ApiProblem.validation("Field '" + name + "' is not supported.", name);
        }
      }
    }

    JsonNode get(String name) {
      JsonNode n = body.get(name);
      return n == null || n.isNull() ? null : n;
    }

    String requiredString(String name) {
      String s = string(name);
      if (s == null || s.isEmpty()) {
        throw ApiProblem.validation("Field '" + name + "' is required.", name);
      }
      return s;
    }

    String string(String name) {
      JsonNode n = get(name);
      if (n == null) {
        return null;
      }
      if (!n.isTextual()) {
        throw ApiProblem.validation("Field '" + name + "' is a string.", name);
      }
      return n.asText();
    }

    Integer integer(String name) {
      JsonNode n = get(name);
      if (n == null) {
        return null;
      }
      if (!n.isIntegralNumber() || !n.canConvertToInt()) {
        throw ApiProblem.validation("Field '" + name + "' is an integer.", name);
      }
      return n.asInt();
    }

    Double number(String name) {
      JsonNode n = get(name);
      if (n == null) {
        return null;
      }
      if (!n.isNumber()) {
        throw ApiProblem.validation("Field '" + name + "' is a number.", name);
      }
      return n.asDouble();
    }

    Boolean bool(String name) {
      JsonNode n = get(name);
      if (n == null) {
        return null;
      }
      if (!n.isBoolean()) {
        throw ApiProblem.validation("Field '" + name + "' is a boolean.", name);
      }
      return n.asBoolean();
    }

    /** A field accepted only at its neutral value (the one that changes nothing). */
    void neutral(String name, java.util.function.Predicate<JsonNode> ok, String otherwise) {
      JsonNode n = get(name);
      if (n != null && !ok.test(n)) {
        throw ApiProblem.validation("Field '" + name + "' " + otherwise + ".", name);
      }
    }

    void finish() {}
  }
}
