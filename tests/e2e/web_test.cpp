// The web app in a real browser: a real PostgreSQL and `crmd --role all` serving the built web
// root, then one node test file (tests/e2e/*.test.mjs: playwright-core driving Debian's chromium)
// per test against it. The password-reset test adds a real SMTP server on loopback (aiosmtpd);
// the billing test turns billing on against the Stripe stand-in.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "crm/ports.hpp"
#include "crm/testing/crmd_process.hpp"
#include "crm/testing/pg_cluster.hpp"
#include "crm/testing/smtp_server.hpp"
#include "crm/testing/stripe_stand_in.hpp"

namespace crm::testing {
namespace {

namespace fs = std::filesystem;

class WebTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(fs::path(CRM_E2E_DIR) / "node_modules" / "playwright-core"))
        << "tests/e2e has no node_modules: run scripts/bootstrap-node";
    ASSERT_TRUE(fs::exists(fs::path(CRM_WEB_ROOT_DIR) / "index.html"))
        << "the web app is not built: cmake --build --preset ci --target crm_web";
    pg_ = PgCluster::Start();
    home_ = pg_->dir() / "home";
    fs::create_directories(home_);
  }

  void StartCrmd(std::map<std::string, std::string> extra = {}) {
    fs::path data = pg_->dir() / "crmd-data";
    fs::create_directories(data);
    std::map<std::string, std::string> env = {{"CRM_DATABASE_URL", pg_->ConnectionString()},
                                              {"CRM_DATA_DIR", data.string()},
                                              {"CRM_LISTEN", "127.0.0.1:0"},
                                              {"CRM_WEB_ROOT", CRM_WEB_ROOT_DIR},
                                              {"CRM_LOG_LEVEL", "info"}};
    for (auto& [key, value] : extra) {
      env[key] = value;  // a test's own listen address and the like win over the defaults
    }
    crmd_env_ = env;
    crmd_ = CrmdProcess::Start(CRM_CRMD_BINARY, {"--role", "all"}, env, pg_->dir() / "crmd.log");
  }

  // `crmd admin create` against the same database; returns the env the browser test reads.
  std::map<std::string, std::string> CreateAdmin() {
    const std::string email = "root@example.com";
    const std::string password = "an admin password";
    auto [code, out] = RunCommand({CRM_CRMD_BINARY, "admin", "create", "--email", email}, crmd_env_,
                                  password + "\n");
    EXPECT_EQ(code, 0) << out;
    return {{"CRM_ADMIN_EMAIL", email}, {"CRM_ADMIN_PASSWORD", password}};
  }

  void TearDown() override {
    if (HasFailure() && crmd_) {
      std::cerr << "--- crmd log ---\n" << crmd_->Log() << "\n";
    }
    crmd_.reset();
    pg_.reset();
  }

  // Runs `node --test tests/e2e/<file>` against the crmd started; the test fails with node's
  // output when any of the file's tests fails.
  void RunBrowserTest(const std::string& file, std::map<std::string, std::string> extra = {}) {
    std::map<std::string, std::string> env = {{"CRM_URL", crmd_->url()},
                                              {"CRM_SCREENSHOTS", CRM_SCREENSHOT_DIR},
                                              {"HOME", home_.string()}};
    env.merge(extra);
    auto [code, out] = RunCommand({CRM_NODE_BINARY, "--test", "--test-reporter=spec",
                                   (fs::path(CRM_E2E_DIR) / file).string()},
                                  env, "");
    EXPECT_EQ(code, 0) << out;
  }

  std::unique_ptr<PgCluster> pg_;
  std::unique_ptr<CrmdProcess> crmd_;
  std::map<std::string, std::string> crmd_env_;
  fs::path home_;
};

TEST_F(WebTest, TenantSignsUpConnectsTalksBroadcastsExportsAndLeaves) {
  StartCrmd();
  RunBrowserTest("journey.test.mjs");
}

TEST_F(WebTest, WaWebConnectPageShowsTheQrAPairingCodeAndAFailedSession) {
  StartCrmd({{"CRM_CHANNEL", "wa-web"}, {"CRM_WA_WEB_SIDECAR", CRM_FAKE_WA_SIDECAR}});
  RunBrowserTest("wa_web.test.mjs", {{"CRM_DATA_DIR", (pg_->dir() / "crmd-data").string()}});
}

TEST_F(WebTest, SecondTenantSeesNoneOfTheFirstTenantsData) {
  StartCrmd();
  RunBrowserTest("isolation.test.mjs");
}

TEST_F(WebTest, BadInputsShowTheServersMessageNextToTheField) {
  StartCrmd({{"QUEUE_MAX_DEPTH", "5"}});
  RunBrowserTest("inputs.test.mjs");
}

TEST_F(WebTest, MailedResetLinkResetsThePassword) {
  fs::path maildir = pg_->dir() / "maildir";
  auto smtp = SmtpServer::Start(maildir);
  StartCrmd({{"CRM_SMTP_URL", smtp->url()}});
  RunBrowserTest("reset.test.mjs", {{"CRM_MAILDIR", maildir.string()}});
}

TEST_F(WebTest, PayFirstTenantSubscribesAndSeesTheGraceDateWhenAPaymentFails) {
  const std::string webhook_secret = "whsec_web_test";
  StripeStandIn stripe;
  StartCrmd({{"CRM_STRIPE_SECRET_KEY", stripe.secret_key()},
             {"CRM_STRIPE_WEBHOOK_SECRET", webhook_secret},
             {"CRM_STRIPE_API_URL", stripe.url()},
             {"CRM_STRIPE_PRICE_ID", "price_workspace_monthly"},
             {"CRM_STRIPE_PROMOTION_CODE", "promo_launch50"}});
  RunBrowserTest("billing.test.mjs", {{"CRM_STRIPE_WEBHOOK_SECRET", webhook_secret}});

  // What the browser's Subscribe asked Stripe for (the test clicked it once, then asked again
  // through the API: two sessions, one customer).
  auto sessions = stripe.calls("/v1/checkout/sessions");
  ASSERT_EQ(sessions.size(), 2U);
  const StripeCall& first = sessions.front();
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.Field("mode"), "subscription");
  EXPECT_EQ(first.Field("line_items[0][price]"), "price_workspace_monthly");
  EXPECT_EQ(first.Field("discounts[0][promotion_code]"), "promo_launch50");
  EXPECT_EQ(first.Field("success_url"), crmd_->url() + "/app/billing?checkout=success");
  EXPECT_EQ(first.Field("cancel_url"), crmd_->url() + "/app/billing?checkout=cancel");
  EXPECT_FALSE(first.Field("client_reference_id").empty());
  EXPECT_EQ(sessions.back().Field("customer"), first.Field("customer"));
  EXPECT_EQ(stripe.calls("/v1/customers").size(), 1U);
}

TEST_F(WebTest, SignInAtAnotherRegionGoesToTheTenantsHomeRegion) {
  // Two regions, each with its own PostgreSQL: the browser test's gateway (CRM_URL) is us, the
  // tenant's home is eu.
  int eu_port = FreeLoopbackPort();
  int us_port = FreeLoopbackPort();
  std::string eu_url = "http://127.0.0.1:" + std::to_string(eu_port);
  std::string us_url = "http://127.0.0.1:" + std::to_string(us_port);
  std::map<std::string, std::string> regions = {
      {"CRM_REGIONS", "eu=" + eu_url + ",us=" + us_url},
      {"CRM_REGION_SECRET", "the regions' shared secret, 32+ characters"}};
  auto eu_pg = PgCluster::Start();
  fs::path eu_data = eu_pg->dir() / "crmd-data";
  fs::create_directories(eu_data);
  std::map<std::string, std::string> eu_env = {
      {"CRM_DATABASE_URL", eu_pg->ConnectionString()},
      {"CRM_DATA_DIR", eu_data.string()},
      {"CRM_LISTEN", "127.0.0.1:" + std::to_string(eu_port)},
      {"CRM_PUBLIC_URL", eu_url},
      {"CRM_WEB_ROOT", CRM_WEB_ROOT_DIR},
      {"CRM_REGION", "eu"}};
  eu_env.insert(regions.begin(), regions.end());
  auto eu =
      CrmdProcess::Start(CRM_CRMD_BINARY, {"--role", "all"}, eu_env, eu_pg->dir() / "crmd.log");
  std::map<std::string, std::string> us_env = {
      {"CRM_LISTEN", "127.0.0.1:" + std::to_string(us_port)},
      {"CRM_PUBLIC_URL", us_url},
      {"CRM_REGION", "us"}};
  us_env.insert(regions.begin(), regions.end());
  StartCrmd(us_env);
  RunBrowserTest("region.test.mjs", {{"CRM_HOME_URL", eu_url}});
  if (HasFailure()) {
    std::cerr << "--- eu crmd log ---\n" << eu->Log() << "\n";
  }
}

TEST_F(WebTest, AdminSeesTheGridSuspendsResumesAndTerminatesTenants) {
  // Telemetry and the process check every second, so charts and alerts arrive within seconds.
  StartCrmd({{"CRM_MONITOR_TELEMETRY_INTERVAL", "1s"}, {"CRM_MONITOR_PROCESS_INTERVAL", "1s"}});
  RunBrowserTest("admin.test.mjs", CreateAdmin());
}

}  // namespace
}  // namespace crm::testing
