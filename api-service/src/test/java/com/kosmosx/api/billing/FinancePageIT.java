package com.kosmosx.api.billing;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.kosmosx.api.ApiTestApp;
import com.kosmosx.contracts.AccountPlan;
import com.kosmosx.contracts.JobType;
import com.kosmosx.contracts.PriceList;
import com.kosmosx.contracts.UsageEvent;
import com.kosmosx.platform.SharedPlatform;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.jdbi.v3.core.Jdbi;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.WebDriverWait;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * The finance page in a real headless browser (Debian's chromium through chromedriver, driven by
 * Selenium) against a running API on the real database: it signs in with a finance key, shows the
 * same numbers as the API (tables, charts and every CSV download), does not offer the admin-only
 * close to finance, refuses a user key, and offers the close to an admin, which works. A screenshot
 * is written to {@code target/finance-page.png}.
 *
 * <p>{@code .ci/run} installs chromium and chromium-driver where missing and sets {@code
 * KOSMOS_REQUIRE_BROWSER=1}, so in CI a missing browser fails this test; elsewhere it is skipped
 * with a message.
 */
class FinancePageIT {
  private static final String ADMIN = "kx_live_bootstrap_admin_key_for_finance_page_0123";
  private static final File CHROMIUM = new File("/usr/bin/chromium");
  private static final File DRIVER = new File("/usr/bin/chromedriver");
  private static final Path DOWNLOADS = Path.of("target", "finance-downloads");
  private static ApiTestApp app;
  private static Jdbi jdbi;
  private static WebDriver browser;
  private static String financeKey;
  private static String userKey;

  @BeforeAll
  static void start() throws Exception {
    boolean installed = CHROMIUM.canExecute() && DRIVER.canExecute();
    if (!installed && "1".equals(System.getenv("KOSMOS_REQUIRE_BROWSER"))) {
      throw new AssertionError(
          "chromium and chromedriver are required (apt-get install chromium" + " chromium-driver)");
    }
    Assumptions.assumeTrue(
        installed, "skipped: no /usr/bin/chromium and /usr/bin/chromedriver on this machine");
    String url = SharedPlatform.freshDatabase("finance_page");
    app =
        new ApiTestApp("config.yml", url, ApiTestApp.setting("auth.bootstrapAdminKey", ADMIN))
            .start();
    PGSimpleDataSource ds = new PGSimpleDataSource();
    ds.setURL(url);
    ds.setUser("postgres");
    jdbi = Jdbi.create(ds);
    financeKey = app.newAccountKey("finpage");
    userKey = app.newAccountKey("finuser");
    String financeAccount =
        jdbi.withHandle(
            h ->
                h.createQuery("SELECT id FROM accounts WHERE username = 'finpage'")
                    .mapTo(String.class)
                    .one());
    var role =
        app.send(
            "PUT",
            "/v1/admin/accounts/" + financeAccount + "/role",
            "application/json",
            "{\"role\":\"finance\"}",
            "X-API-Key",
            ADMIN);
    assertThat(role.statusCode()).as(role.body()).isEqualTo(200);
    seed();

    ChromeOptions options = new ChromeOptions();
    options.setBinary(CHROMIUM);
    options.addArguments(
        "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,2400");
    Files.createDirectories(DOWNLOADS);
    try (var old = Files.list(DOWNLOADS)) {
      for (Path f : old.toList()) {
        Files.delete(f);
      }
    }
    options.setExperimentalOption(
        "prefs",
        Map.of(
            "download.default_directory",
            DOWNLOADS.toAbsolutePath().toString(),
            "download.prompt_for_download",
            false));
    browser =
        new ChromeDriver(
            new ChromeDriverService.Builder().usingDriverExecutable(DRIVER).build(), options);
  }

  @AfterAll
  static void stop() {
    if (browser != null) {
      browser.quit();
    }
    if (app != null) {
      app.close();
    }
  }

  /**
   * Two accounts, last month and this month: one pay-as-you-go, one dedicated (text) from last
   * month; jobs rows and their usage metered by metering's real topology into the rollups.
   */
  private static void seed() {
    LocalDate today = LocalDate.now(ZoneOffset.UTC);
    YearMonth current = YearMonth.from(today);
    YearMonth previous = current.minusMonths(1);
    for (String a : List.of("acc_fpa", "acc_fpb")) {
      jdbi.useHandle(
          h ->
              h.execute(
                  "INSERT INTO accounts (id, username, email, password_hash, webhook_secret,"
                      + " created_at) VALUES (?, ?, 'a@example.com', 'x', 'whsec_x', '2026-01-01')",
                  a,
                  a));
    }
    jdbi.useHandle(
        h ->
            h.execute(
                "INSERT INTO account_plans (account_id, product, plan, lane, effective_from,"
                    + " created_at) VALUES ('acc_fpb', 'text', 'dedicated', 'dedicated', ?, now())",
                previous.atDay(1)));
    List<BillingPropertyIT.Arrival> arrivals = new ArrayList<>();
    arrivals.add(
        new BillingPropertyIT.Arrival(
            Instant.EPOCH,
            null,
            new AccountPlan(
                "acc_fpb",
                Map.of(),
                null,
                Instant.EPOCH,
                List.of(
                    new AccountPlan.Change(
                        JobType.TEXT,
                        AccountPlan.PlanKind.DEDICATED,
                        "dedicated",
                        previous.atDay(1))))));
    int n = 0;
    for (LocalDate d : List.of(previous.atDay(10), current.atDay(1), today)) {
      for (String a : List.of("acc_fpa", "acc_fpb")) {
        for (JobType t : JobType.values()) {
          n++;
          Instant at = d.atStartOfDay(ZoneOffset.UTC).toInstant().plusSeconds(3600 + n);
          int in = t == JobType.TEXT ? 40_000 * n : 12;
          int out = t == JobType.TEXT ? 333 : 20;
          int images = t == JobType.IMAGE ? 1 : 0;
          String id = "job_fp" + n;
          jdbi.useHandle(
              h ->
                  h.execute(
                      "INSERT INTO jobs (id, account_id, type, status, lane, input, created_at,"
                          + " completed_at, input_tokens, output_tokens, images) VALUES (?, ?, ?,"
                          + " 'succeeded', 'shared', '{}', ?, ?, ?, ?, ?)",
                      id,
                      a,
                      t.wire(),
                      java.sql.Timestamp.from(at),
                      java.sql.Timestamp.from(at),
                      in,
                      out,
                      images));
          arrivals.add(
              new BillingPropertyIT.Arrival(
                  at.plusSeconds(1),
                  new UsageEvent(id, a, t, in, out, images, t == JobType.IMAGE, at),
                  null));
        }
      }
    }
    arrivals.sort(java.util.Comparator.comparing(BillingPropertyIT.Arrival::at));
    BillingPropertyIT.meter(jdbi, arrivals, PriceList.SEED, List.of(), null);
  }

  private static JsonNode api(String path, String key) throws Exception {
    var r = app.get(path, "Authorization", "Bearer " + key);
    assertThat(r.statusCode()).as(path + " " + r.body()).isEqualTo(200);
    return ApiTestApp.json(r);
  }

  private static String csv(String path, String key) throws Exception {
    var r = app.get(path, "Authorization", "Bearer " + key);
    assertThat(r.statusCode()).as(path).isEqualTo(200);
    return r.body();
  }

  private static List<List<String>> table(String id) {
    List<List<String>> rows = new ArrayList<>();
    for (WebElement tr : browser.findElements(By.cssSelector("#" + id + " tbody tr"))) {
      rows.add(tr.findElements(By.tagName("td")).stream().map(WebElement::getText).toList());
    }
    return rows;
  }

  /** The API's rows with revenue (the page's tables leave out periods that earned nothing). */
  private static List<List<String>> earning(JsonNode array, String... columns) {
    List<List<String>> rows = new ArrayList<>();
    for (JsonNode r : array) {
      if (new java.math.BigDecimal(r.path("total_usd").asText()).signum() != 0) {
        rows.add(row(r, columns));
      }
    }
    return rows;
  }

  private static List<List<String>> rows(JsonNode array, String... columns) {
    List<List<String>> rows = new ArrayList<>();
    for (JsonNode r : array) {
      rows.add(row(r, columns));
    }
    return rows;
  }

  private static List<String> row(JsonNode r, String... columns) {
    List<String> row = new ArrayList<>();
    for (String c : columns) {
      row.add(r.path(c).asText());
    }
    return row;
  }

  private static void signIn(String key) {
    browser.get(app.baseUrl() + "/finance");
    // A key kept from an earlier sign-in signs in by itself: sign out first, as a user would.
    new WebDriverWait(browser, Duration.ofSeconds(30))
        .until(
            d ->
                d.findElement(By.id("key")).isDisplayed()
                    || d.findElement(By.id("sign-out")).isDisplayed());
    if (browser.findElement(By.id("sign-out")).isDisplayed()) {
      browser.findElement(By.id("sign-out")).click();
    }
    new WebDriverWait(browser, Duration.ofSeconds(30))
        .until(ExpectedConditions.elementToBeClickable(By.id("key")));
    browser.findElement(By.id("key")).sendKeys(key);
    browser.findElement(By.id("sign-in-button")).click();
    new WebDriverWait(browser, Duration.ofSeconds(60))
        .until(
            d ->
                ((JavascriptExecutor) d)
                        .executeScript("return document.body.dataset.loaded || null")
                    != null);
  }

  @Test
  void aFinanceKeySeesTheApisNumbersAndCsvsButNoAdminAction() throws Exception {
    var page = app.get("/finance");
    assertThat(page.statusCode()).isEqualTo(200);
    assertThat(page.headers().firstValue("Content-Security-Policy").orElse(""))
        .contains("script-src 'self'");

    signIn(financeKey);
    assertThat(browser.findElement(By.tagName("body")).getDomAttribute("data-loaded"))
        .isEqualTo("true");
    LocalDate today = LocalDate.now(ZoneOffset.UTC);
    YearMonth current = YearMonth.from(today);
    YearMonth previous = current.minusMonths(1);
    String dailyFrom = today.minusDays(29).toString();
    String monthlyFrom = current.minusMonths(11).atDay(1).toString();

    JsonNode invoice = api("/v1/admin/invoices?month=" + current, financeKey);
    assertThat(browser.findElement(By.id("open-month-total")).getText())
        .isEqualTo("$" + invoice.path("total_usd").asText());
    assertThat(invoice.path("total_usd").asText()).isNotEqualTo("0.00");

    JsonNode monthly =
        api("/v1/admin/revenue?granularity=month&from=" + monthlyFrom + "&to=" + today, financeKey);
    assertThat(table("monthly-table"))
        .isEqualTo(
            earning(
                monthly.path("rows"),
                "period_start",
                "product",
                "status",
                "payg_usd",
                "fees_usd",
                "overage_usd",
                "detection_usd",
                "adjustments_usd",
                "total_usd"));
    assertThat(table("totals")).isEqualTo(rows(monthly.path("totals"), "product", "total_usd"));
    assertThat(table("top-accounts"))
        .isEqualTo(rows(monthly.path("top_accounts"), "account_id", "total_usd"))
        .extracting(r -> r.get(0))
        .containsExactly("acc_fpb", "acc_fpa");
    JsonNode daily =
        api("/v1/admin/revenue?granularity=day&from=" + dailyFrom + "&to=" + today, financeKey);
    assertThat(table("daily-table"))
        .isEqualTo(earning(daily.path("rows"), "period_start", "product", "total_usd"))
        .isNotEmpty();

    // The charts plot the same periods, one dataset per product.
    JavascriptExecutor js = (JavascriptExecutor) browser;
    @SuppressWarnings("unchecked")
    List<String> labels =
        (List<String>) js.executeScript("return Chart.getChart('monthly-chart').data.labels");
    assertThat(labels)
        .containsExactlyElementsOf(
            monthly.path("rows").findValuesAsText("period_start").stream().distinct().toList());
    assertThat(
            ((Number) js.executeScript("return Chart.getChart('daily-chart').data.datasets.length"))
                .intValue())
        .isEqualTo(2);

    // Reconciliation status, as the API reports it.
    for (YearMonth m : List.of(current, previous)) {
      JsonNode rec = api("/v1/admin/reconciliation?month=" + m, financeKey);
      assertThat(rec.path("matches").asBoolean()).as(rec.toString()).isTrue();
      assertThat(
              browser
                  .findElement(By.cssSelector("#reconciliation li[data-month='" + m + "']"))
                  .getText())
          .isEqualTo(m + ": matches");
    }

    // Every CSV download, clicked as a user would, saves exactly what the API serves.
    List<WebElement> downloads = browser.findElements(By.cssSelector("#downloads a.download"));
    assertThat(downloads).hasSize(5);
    for (WebElement a : downloads) {
      assertThat(a.getDomAttribute("data-ready")).isEqualTo("true");
      String name = a.getDomAttribute("download");
      assertThat(name).endsWith(".csv");
      a.click();
      Path saved = DOWNLOADS.resolve(name);
      new WebDriverWait(browser, Duration.ofSeconds(30)).until(d -> Files.exists(saved));
      String expected = csv(a.getDomAttribute("data-source"), financeKey);
      // Chromium writes to a .crdownload file and renames it when complete: the rename is the
      // end of the download, so the file is whole once it exists under its name.
      assertThat(Files.readString(saved)).as(name).isEqualTo(expected);
    }

    // The admin-only close is not offered to finance.
    assertThat(browser.findElements(By.id("close-month"))).isEmpty();
    js.executeScript("window.scrollTo(0, 0)");
    Path shot = Path.of("target", "finance-page.png");
    Files.createDirectories(shot.getParent());
    Files.write(shot, ((TakesScreenshot) browser).getScreenshotAs(OutputType.BYTES));
    assertThat(Files.size(shot)).isGreaterThan(10_000);
  }

  @Test
  void aUserKeyIsRefusedAndAnAdminIsOfferedTheClose() throws Exception {
    signIn(userKey);
    assertThat(browser.findElement(By.tagName("body")).getDomAttribute("data-loaded"))
        .isEqualTo("error");
    assertThat(browser.findElement(By.id("error")).getText())
        .contains("cannot read finance reports");
    assertThat(browser.findElement(By.id("dashboard")).isDisplayed()).isFalse();

    signIn(ADMIN);
    WebElement close = browser.findElement(By.id("close-month"));
    assertThat(close.isDisplayed()).isTrue();
    close.click();
    YearMonth previous = YearMonth.now(ZoneOffset.UTC).minusMonths(1);
    new WebDriverWait(browser, Duration.ofSeconds(30))
        .until(d -> !d.findElement(By.id("close-result")).getText().isEmpty());
    assertThat(browser.findElement(By.id("close-result")).getText())
        .startsWith(previous + " closed");
    assertThat(api("/v1/admin/invoices?month=" + previous, financeKey).path("status").asText())
        .isEqualTo("closed");
  }

  @Test
  void theFinanceRoutesRefuseBadInputAndTheWrongRoleWithProblems() throws Exception {
    for (String bad :
        List.of(
            "/v1/admin/revenue?from=2026-13-01&to=2026-12-01",
            "/v1/admin/revenue?from=2026-12-01&to=2026-11-01",
            "/v1/admin/revenue?from=2025-01-01&to=2026-12-31&granularity=day",
            "/v1/admin/revenue?from=2026-01-01&to=2026-02-01&granularity=week",
            "/v1/admin/revenue?from=2026-01-01&to=2026-02-01&format=xml",
            "/v1/admin/revenue?to=2026-02-01")) {
      var r = app.get(bad, "Authorization", "Bearer " + financeKey);
      assertThat(r.statusCode()).as(bad).isEqualTo(400);
      assertThat(r.headers().firstValue("Content-Type").orElse(""))
          .startsWith("application/problem+json");
      assertThat(ApiTestApp.json(r).path("code").asText()).isEqualTo("validation_failed");
    }
    var csv =
        app.get(
            "/v1/admin/revenue?from=2026-01-01&to=2026-02-01&format=csv",
            "Authorization",
            "Bearer " + financeKey);
    assertThat(csv.headers().firstValue("Content-Type").orElse("")).startsWith("text/csv");
    assertThat(csv.body()).startsWith("period_start,product,status,payg_usd,fees_usd,");
    // Closing is the admin's: finance and users are 403, nonsense months 400.
    for (String key : List.of(financeKey, userKey)) {
      var r =
          app.send(
              "POST",
              "/v1/admin/invoices/2020-01/close",
              null,
              null,
              "Authorization",
              "Bearer " + key);
      assertThat(r.statusCode()).isEqualTo(403);
    }
    assertThat(
            app.get(
                    "/v1/admin/revenue?from=2026-01-01&to=2026-02-01",
                    "Authorization",
                    "Bearer " + userKey)
                .statusCode())
        .isEqualTo(403);
    for (String month : List.of("2026-13", "26-01", "x")) {
      var r =
          app.send(
              "POST",
              "/v1/admin/invoices/" + month + "/close",
              null,
              null,
              "Authorization",
              "Bearer " + ADMIN);
      assertThat(r.statusCode()).as(month).isEqualTo(400);
      // The month is in the path, and the problem says so.
      assertThat(ApiTestApp.json(r).path("detail").asText()).startsWith("Path segment 'month'");
      assertThat(ApiTestApp.json(r).path("field").asText()).isEqualTo("month");
    }
    var future =
        app.send(
            "POST",
            "/v1/admin/invoices/2999-01/close",
            null,
            null,
            "Authorization",
            "Bearer " + ADMIN);
    assertThat(future.statusCode()).isEqualTo(409);
    assertThat(ApiTestApp.json(future).path("code").asText()).isEqualTo("month_not_ended");
  }
}
