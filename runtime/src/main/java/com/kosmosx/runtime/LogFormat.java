package com.kosmosx.runtime;

import io.dropwizard.configuration.ConfigurationException;
import io.dropwizard.configuration.ConfigurationFactory;
import io.dropwizard.configuration.ConfigurationSourceProvider;
import io.dropwizard.configuration.DefaultConfigurationFactoryFactory;
import io.dropwizard.core.Configuration;
import io.dropwizard.core.server.DefaultServerFactory;
import io.dropwizard.core.setup.Bootstrap;
import io.dropwizard.logging.common.AbstractAppenderFactory;
import io.dropwizard.logging.common.AppenderFactory;
import io.dropwizard.logging.common.DefaultLoggingFactory;
import io.dropwizard.logging.json.AccessJsonLayoutBaseFactory;
import io.dropwizard.logging.json.EventJsonLayoutBaseFactory;
import io.dropwizard.request.logging.LogbackAccessRequestLogFactory;
import java.io.IOException;
import java.util.List;

/**
 * {@code KOSMOS_LOG_FORMAT=json}: every appender of a service (and the API's request log) writes
 * one JSON object per line, with the MDC fields of {@link Tracing} (job, account, lane, trace), for
 * log pipelines that index fields; anything else keeps Dropwizard's text lines. A layout cannot be
 * chosen by a YAML variable (the text layout has no type name), so the parsed configuration is
 * adjusted before Dropwizard configures logging from it.
 */
public final class LogFormat {
  public static final String VARIABLE = "KOSMOS_LOG_FORMAT";

  private LogFormat() {}

  public static <T extends Configuration> void install(Bootstrap<T> bootstrap) {
    install(bootstrap, System.getenv(VARIABLE));
  }

  static <T extends Configuration> void install(Bootstrap<T> bootstrap, String format) {
    if (format == null || format.isBlank() || format.equalsIgnoreCase("text")) {
      return;
    }
    if (!format.equalsIgnoreCase("json")) {
      throw new IllegalArgumentException(VARIABLE + " must be text or json, was '" + format + "'");
    }
    bootstrap.setConfigurationFactoryFactory(
        (klass, validator, mapper, prefix) -> {
          ConfigurationFactory<T> inner =
              new DefaultConfigurationFactoryFactory<T>().create(klass, validator, mapper, prefix);
          return new ConfigurationFactory<>() {
            @Override
            public T build(ConfigurationSourceProvider provider, String path)
                throws IOException, ConfigurationException {
              return json(inner.build(provider, path));
            }

            @Override
            public T build() throws IOException, ConfigurationException {
              return json(inner.build());
            }
          };
        });
  }

  static <T extends Configuration> T json(T config) {
    if (config.getLoggingFactory() instanceof DefaultLoggingFactory logging) {
      for (AppenderFactory<?> a : logging.getAppenders()) {
        if (a instanceof AbstractAppenderFactory<?> appender) {
          layout(appender, new EventJsonLayoutBaseFactory());
        }
      }
    }
    if (config.getServerFactory() instanceof DefaultServerFactory server
        && server.getRequestLogFactory() instanceof LogbackAccessRequestLogFactory requests) {
      List<? extends AppenderFactory<?>> appenders = requests.getAppenders();
      for (AppenderFactory<?> a : appenders) {
        if (a instanceof AbstractAppenderFactory<?> appender) {
          layout(appender, new AccessJsonLayoutBaseFactory());
        }
      }
    }
    return config;
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private static void layout(AbstractAppenderFactory<?> appender, Object layout) {
    appender.setLogFormat(null); // a text pattern, which a JSON layout ignores (with a warning)
    ((AbstractAppenderFactory) appender)
        .setLayout((io.dropwizard.logging.common.layout.DiscoverableLayoutFactory) layout);
  }
}
