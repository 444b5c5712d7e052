package com.kosmosx.api.errors;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.JsonDeserializer;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.KeyDeserializer;
import com.fasterxml.jackson.databind.deser.std.StringDeserializer;
import com.fasterxml.jackson.databind.module.SimpleModule;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What every JSON body must satisfy at the border, whatever the field: no U+0000 in any string or
 * object key (PostgreSQL's text and jsonb cannot hold it, so a NUL accepted here would be a 500 or
 * a stuck projection later), and bounded maps read as they stream, so a body of a million metadata
 * keys is refused at the seventeenth rather than parsed whole first.
 */
public final class BorderJson {
  private BorderJson() {}

  /** A client-facing refusal raised while reading a body; its message is safe to show. */
  public static final class Refused extends JsonMappingException {
    public Refused(JsonParser p, String message) {
      super(p, message);
    }
  }

  public static SimpleModule module() {
    SimpleModule m = new SimpleModule("kosmos-border");
    m.addDeserializer(String.class, new NulFreeStrings());
    m.addKeyDeserializer(String.class, new NulFreeKeys());
    return m;
  }

  static void checkNul(JsonParser p, String s) throws JsonMappingException {
    if (s != null && s.indexOf('\u0000') >= 0) {
      throw new Refused(p, "Strings may not contain the NUL character (U+0000).");
    }
  }

  private static final class NulFreeStrings extends StringDeserializer {
    @Override
    public String deserialize(JsonParser p, DeserializationContext ctx) throws IOException {
      String s = super.deserialize(p, ctx);
      checkNul(p, s);
      return s;
    }
  }

  private static final class NulFreeKeys extends KeyDeserializer {
    @Override
    public Object deserializeKey(String key, DeserializationContext ctx) throws IOException {
      checkNul(ctx.getParser(), key);
      return key;
    }
  }

  /**
   * A {@code Map<String,String>} of at most {@link #MAX_ENTRIES} entries with bounded keys and
   * values, checked entry by entry while the body streams.
   */
  public static final class BoundedStringMap extends JsonDeserializer<Map<String, String>> {
    public static final int MAX_ENTRIES = 16;
    public static final int MAX_KEY_CHARS = 40;
    public static final int MAX_VALUE_CHARS = 500;

    @Override
    public Map<String, String> deserialize(JsonParser p, DeserializationContext ctx)
        throws IOException {
      if (p.currentToken() != JsonToken.START_OBJECT) {
        throw new Refused(p, "Field 'metadata' is an object of strings.");
      }
      Map<String, String> out = new LinkedHashMap<>();
      for (JsonToken t = p.nextToken(); t != JsonToken.END_OBJECT; t = p.nextToken()) {
        String key = p.currentName();
        if (out.size() == MAX_ENTRIES) {
          throw new Refused(p, "At most " + MAX_ENTRIES + " metadata keys.");
        }
        checkNul(p, key);
        if (key.isEmpty() || key.length() > MAX_KEY_CHARS) {
          throw new Refused(p, "Metadata keys have 1 to " + MAX_KEY_CHARS + " characters.");
        }
        if (p.nextToken() != JsonToken.VALUE_STRING) {
          throw new Refused(p, "Metadata values are strings.");
        }
        String value = p.getText();
        checkNul(p, value);
        if (value.length() > MAX_VALUE_CHARS) {
          throw new Refused(
              p, "Metadata values are strings of at most " + MAX_VALUE_CHARS + " characters.");
        }
        out.put(key, value);
      }
      return out;
    }
  }
}
