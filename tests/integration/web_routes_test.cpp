// The gateway as a browser meets it: the web app's files, the public price, and the account's
// own settings (password, sign out everywhere, delete), against a real crmd and PostgreSQL.
#include <fstream>

#include "runtime_fixture.hpp"

namespace crm::testing {
namespace {

class WebRoutesTest : public RuntimeTest {
 protected:
  void Configure(std::map<std::string, std::string>& env) override {
    web_ = fs::path(env["CRM_DATA_DIR"]).parent_path() / "web";
    Write("index.html", "<!doctype html><title>CRM</title><script src=/assets/app-1a2b.js>");
    Write("index.html.gz", std::string("\x1f\x8b gzipped index", 17));
    Write("assets/app-1a2b.js", "export {}");
    env["CRM_WEB_ROOT"] = web_.string();
    env["CRM_PRICE_MONTHLY_CENTS"] = "1900";
    env["CRM_CURRENCY"] = "eur";
    env["CRM_LAUNCH_DISCOUNT_PERCENT"] = "25";
  }

  void Write(const std::string& name, const std::string& content) {
    fs::create_directories((web_ / name).parent_path());
    std::ofstream(web_ / name, std::ios::binary) << content;
  }

  fs::path web_;
};

TEST_F(WebRoutesTest, PagesAndAssetsAreServedWhileApiPathsStayJson) {
  auto page = Fetch("GET", Url("/app/inbox/12"));
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.body.rfind("<!doctype html>", 0), 0u);
  EXPECT_EQ(page.headers["cache-control"], "no-cache");
  EXPECT_NE(page.headers["content-security-policy"].find("script-src 'self'"), std::string::npos);
  auto gz = Fetch("GET", Url("/"), "", {"Accept-Encoding: gzip"});
  EXPECT_EQ(gz.headers["content-encoding"], "gzip");
  EXPECT_EQ(gz.body.size(), 17u);
  auto asset = Fetch("GET", Url("/assets/app-1a2b.js"));
  EXPECT_EQ(asset.status, 200);
  EXPECT_EQ(asset.headers["cache-control"], "public, max-age=31536000, immutable");
  EXPECT_EQ(asset.headers["content-type"], "text/javascript; charset=utf-8");
  EXPECT_EQ(Fetch("GET", Url("/assets/app-ffff.js")).status, 404);
  auto api = Fetch("GET", Url("/auth/nothing-here"));
  EXPECT_EQ(api.status, 404);
  EXPECT_EQ(api.Json().value("error", ""), "no such endpoint: /auth/nothing-here");
  EXPECT_EQ(Fetch("GET", Url("/api/contacts")).status, 401);
  EXPECT_EQ(Fetch("GET", Url("/health")).Json().value("status", ""), "ok");
}

TEST_F(WebRoutesTest, ThePriceComesFromTheConfiguration) {
  auto plan = Fetch("GET", Url("/billing/plan"));
  ASSERT_EQ(plan.status, 200) << plan.body;
  auto body = plan.Json();
  EXPECT_EQ(body["currency"], "EUR");
  EXPECT_EQ(body["monthly_cents"], 1900);
  EXPECT_EQ(body["launch_discount_percent"], 25);
  EXPECT_EQ(body["launch_monthly_cents"], 1425);
  EXPECT_EQ(body["name"], "Workspace");
}

TEST_F(WebRoutesTest, ChangingThePasswordKeepsThisSessionAndEndsTheOthers) {
  Tenant ana = Register("ana@example.com");
  std::string other = Login("ana@example.com", kPassword, "198.51.100.7");
  auto wrong =
      Fetch("POST", Url("/auth/change-password"),
            json{{"current_password", "not it at all"}, {"new_password", "a new long one"}}.dump(),
            ana.AuthJson());
  EXPECT_EQ(wrong.status, 400);
  EXPECT_EQ(wrong.Json().value("field", ""), "current_password");
  auto shortpw = Fetch("POST", Url("/auth/change-password"),
                       json{{"current_password", kPassword}, {"new_password", "short"}}.dump(),
                       ana.AuthJson());
  EXPECT_EQ(shortpw.status, 400);
  EXPECT_EQ(shortpw.Json().value("field", ""), "new_password");
  auto ok = Fetch("POST", Url("/auth/change-password"),
                  json{{"current_password", kPassword}, {"new_password", "a new long one"}}.dump(),
                  ana.AuthJson());
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(Fetch("GET", Url("/auth/me"), "", ana.Auth()).status, 200);
  EXPECT_EQ(Fetch("GET", Url("/auth/me"), "", {"Cookie: crm_session=" + other}).status, 401);
  EXPECT_FALSE(Login("ana@example.com", "a new long one", "198.51.100.8").empty());
}

TEST_F(WebRoutesTest, SigningOutEverywhereEndsEverySession) {
  Tenant ana = Register("ana@example.com");
  std::string other = Login("ana@example.com", kPassword, "198.51.100.9");
  auto out = Fetch("POST", Url("/auth/logout-all"), "", ana.Auth());
  EXPECT_EQ(out.status, 204);
  EXPECT_NE(out.headers["set-cookie"].find("Max-Age=0"), std::string::npos);
  EXPECT_EQ(Fetch("GET", Url("/auth/me"), "", ana.Auth()).status, 401);
  EXPECT_EQ(Fetch("GET", Url("/auth/me"), "", {"Cookie: crm_session=" + other}).status, 401);
}

TEST_F(WebRoutesTest, DeletingTheAccountDestroysItsWorkspaceAndTouchesNoOtherTenant) {
  Tenant ana = Register("ana@example.com");
  Tenant bob = Register("bob@example.com");
  CreateContact(ana, "Carla", "+14155550101");
  CreateContact(bob, "Dave", "+14155550102");
  auto wrong = Fetch("POST", Url("/auth/delete-account"), json{{"password", "nope nope"}}.dump(),
                     ana.AuthJson());
  EXPECT_EQ(wrong.status, 400);
  EXPECT_EQ(wrong.Json().value("field", ""), "password");
  EXPECT_EQ(Fetch("GET", Url("/api/contacts"), "", ana.Auth()).status, 200);

  auto gone = Fetch("POST", Url("/auth/delete-account"), json{{"password", kPassword}}.dump(),
                    ana.AuthJson());
  ASSERT_EQ(gone.status, 200) << gone.body;
  EXPECT_EQ(gone.Json().value("status", ""), "deleted");
  EXPECT_EQ(Fetch("GET", Url("/auth/me"), "", ana.Auth()).status, 401);
  std::string conninfo = pg_->ConnectionString();
  EXPECT_EQ(
      Sql(conninfo, "SELECT state FROM gateway.slices WHERE id = " + std::to_string(ana.slice)),
      "destroyed");
  EXPECT_EQ(Sql(conninfo, "SELECT count(*) FROM pg_namespace WHERE nspname = 'slice_" +
                              std::to_string(ana.slice) + "'"),
            "0");
  EXPECT_EQ(Sql(conninfo, "SELECT count(*) FROM gateway.users WHERE email = 'ana@example.com'"),
            "0");
  auto bobs = Fetch("GET", Url("/api/contacts"), "", bob.Auth());
  ASSERT_EQ(bobs.status, 200);
  EXPECT_EQ(bobs.Json()["items"].size(), 1u);
  // The address is free again.
  Register("ana@example.com");
}

}  // namespace
}  // namespace crm::testing
