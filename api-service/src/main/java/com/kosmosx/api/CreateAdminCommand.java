package com.kosmosx.api;

import com.codahale.metrics.MetricRegistry;
import com.kosmosx.api.accounts.AccountService;
import com.kosmosx.api.accounts.Passwords;
import com.kosmosx.api.api.AccountCreated;
import com.kosmosx.api.api.CreateAccountRequest;
import io.dropwizard.core.cli.ConfiguredCommand;
import io.dropwizard.core.setup.Bootstrap;
import java.time.Clock;
import javax.sql.DataSource;
import net.sourceforge.argparse4j.inf.Namespace;
import net.sourceforge.argparse4j.inf.Subparser;
import org.jdbi.v3.core.Jdbi;
import org.jdbi.v3.sqlobject.SqlObjectPlugin;

/**
 * {@code java -jar api.jar create-admin --username ops --email ops@example.com config.yml}: creates
 * the first admin. The password comes from {@code KOSMOS_ADMIN_PASSWORD} (never a command-line
 * argument, which other users of the machine can read); the API key is printed once.
 */
public final class CreateAdminCommand extends ConfiguredCommand<ApiConfiguration> {

  public CreateAdminCommand() {
    super("create-admin", "Creates an admin account and prints its API key once");
  }

  @Override
  public void configure(Subparser subparser) {
    super.configure(subparser);
    subparser.addArgument("--username").required(true).help("admin username");
    subparser.addArgument("--email").required(true).help("admin email");
  }

  @Override
  protected void run(Bootstrap<ApiConfiguration> bootstrap, Namespace ns, ApiConfiguration config)
      throws Exception {
    String password = System.getenv("KOSMOS_ADMIN_PASSWORD");
    if (password == null) {
      throw new IllegalArgumentException("set KOSMOS_ADMIN_PASSWORD to the admin's password");
    }
    DataSource ds = config.database.build(new MetricRegistry(), "create-admin");
    ApiApplication.migrate(ds);
    Jdbi jdbi = Jdbi.create(ds).installPlugin(new SqlObjectPlugin());
    AccountCreated admin =
        new AccountService(jdbi, new Passwords(config.auth.bcryptCost), Clock.systemUTC())
            .create(
                new CreateAccountRequest(ns.getString("username"), ns.getString("email"), password),
                "admin");
    System.out.println("admin account " + admin.accountId() + " created");
    System.out.println("API key (shown once): " + admin.apiKey().key());
  }
}
