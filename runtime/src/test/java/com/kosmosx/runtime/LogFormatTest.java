package com.kosmosx.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.dropwizard.core.Configuration;
import io.dropwizard.core.server.DefaultServerFactory;
import io.dropwizard.core.setup.Bootstrap;
import io.dropwizard.logging.common.AbstractAppenderFactory;
import io.dropwizard.logging.common.DefaultLoggingFactory;
import io.dropwizard.logging.json.AccessJsonLayoutBaseFactory;
import io.dropwizard.logging.json.EventJsonLayoutBaseFactory;
import io.dropwizard.request.logging.LogbackAccessRequestLogFactory;
import org.junit.jupiter.api.Test;

class LogFormatTest {

  @Test
  void jsonGivesEveryAppenderAndTheRequestLogAJsonLayout() {
    Configuration config = LogFormat.json(new Configuration());
    var appenders = ((DefaultLoggingFactory) config.getLoggingFactory()).getAppenders();
    assertThat(appenders).isNotEmpty();
    assertThat(appenders)
        .allSatisfy(
            a ->
                assertThat(((AbstractAppenderFactory<?>) a).getLayout())
                    .isInstanceOf(EventJsonLayoutBaseFactory.class));
    var requests =
        (LogbackAccessRequestLogFactory)
            ((DefaultServerFactory) config.getServerFactory()).getRequestLogFactory();
    assertThat(requests.getAppenders())
        .allSatisfy(
            a ->
                assertThat(((AbstractAppenderFactory<?>) a).getLayout())
                    .isInstanceOf(AccessJsonLayoutBaseFactory.class));
  }

  @Test
  void textOrNothingLeavesDropwizardsLinesAndAnythingElseIsRefusedAtStart() {
    Bootstrap<Configuration> bootstrap =
        new Bootstrap<>(
            new io.dropwizard.core.Application<>() {
              @Override
              public void run(Configuration c, io.dropwizard.core.setup.Environment e) {}
            });
    var before = bootstrap.getConfigurationFactoryFactory();
    LogFormat.install(bootstrap, null);
    LogFormat.install(bootstrap, "text");
    assertThat(bootstrap.getConfigurationFactoryFactory()).isSameAs(before);
    LogFormat.install(bootstrap, "JSON");
    assertThat(bootstrap.getConfigurationFactoryFactory()).isNotSameAs(before);
    assertThatThrownBy(() -> LogFormat.install(bootstrap, "yaml"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("KOSMOS_LOG_FORMAT must be text or json");
  }
}
