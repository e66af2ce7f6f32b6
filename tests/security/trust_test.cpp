// Whom the gateway believes: the origin in mailed links and the expected Origin come from
// configuration, never from a request's Host; X-Forwarded-For counts only from a configured proxy,
// so rotating it does not escape the per-address limits.
#include "../integration/runtime_fixture.hpp"

namespace crm::testing {
namespace {

using TrustTest = RuntimeTest;

// The link of the only reset mail queued so far.
std::string MailedLink(const std::string& conninfo) {
  return Sql(conninfo, "SELECT params->>'link' FROM gateway.outbox_emails");
}

json Credentials(const std::string& email, const std::string& password) {
  return json{{"email", email}, {"password", password}};
}

TEST_F(TrustTest, AForgedHostNeverReachesTheMailedResetLink) {
  Register("ana@example.com");
  auto asked = Fetch("POST", Url("/auth/forgot-password"), R"({"email":"ana@example.com"})",
                     {kJson, "Host: evil.example"});
  ASSERT_EQ(asked.status, 202) << asked.body;
  std::string link = MailedLink(pg_->ConnectionString());
  EXPECT_EQ(link.find("evil.example"), std::string::npos) << link;
  EXPECT_EQ(link.rfind(crmd_->url() + "/reset-password?token=", 0), 0u)
      << "without CRM_PUBLIC_URL the link names the listen address: " << link;
}

TEST_F(TrustTest, AForgedHostDoesNotMakeItsOwnOriginAcceptable) {
  auto r = Fetch("POST", Url("/auth/login"), Credentials("ana@example.com", kPassword).dump(),
                 {kJson, "Host: evil.example", "Origin: http://evil.example"});
  EXPECT_EQ(r.status, 403) << r.body;
  std::string port = crmd_->url().substr(crmd_->url().rfind(':'));
  r = Fetch("POST", Url("/auth/login"), Credentials("ana@example.com", kPassword).dump(),
            {kJson, "Origin: http://localhost" + port});
  EXPECT_EQ(r.status, 401) << "a browser on the demo machine passes the Origin check: " << r.body;
}

class ConfiguredUrlTest : public RuntimeTest {
 protected:
  void Configure(std::map<std::string, std::string>& env) override {
    env["CRM_PUBLIC_URL"] = "https://crm.example.com";
  }
};

TEST_F(ConfiguredUrlTest, TheMailedLinkAndTheCookieFollowThePublicUrl) {
  Register("ana@example.com");
  auto asked = Fetch("POST", Url("/auth/forgot-password"), R"({"email":"ana@example.com"})",
                     {kJson, "Host: evil.example", "Origin: https://crm.example.com"});
  ASSERT_EQ(asked.status, 202) << asked.body;
  EXPECT_EQ(MailedLink(pg_->ConnectionString()).rfind("https://crm.example.com/reset-password?", 0),
            0u);
  auto login = Fetch("POST", Url("/auth/login"), Credentials("ana@example.com", kPassword).dump(),
                     {kJson, "Host: localhost"});
  ASSERT_EQ(login.status, 200) << login.body;
  EXPECT_NE(login.headers["set-cookie"].find("; Secure"), std::string::npos)
      << "an https public URL means Secure, whatever Host says";
}

// crmd with nothing in front: every peer is a client, whatever it claims.
class UntrustedPeerTest : public RuntimeTest {
 protected:
  void Configure(std::map<std::string, std::string>& env) override {
    env.erase("CRM_TRUSTED_PROXIES");
  }
};

TEST_F(UntrustedPeerTest, RotatingXForwardedForDoesNotEscapeTheLoginLimit) {
  Register("ana@example.com");
  int refused = 0;
  int limited = 0;
  for (int i = 0; i < 12; ++i) {
    auto r =
        Fetch("POST", Url("/auth/login"), Credentials("ana@example.com", "a wrong password").dump(),
              {kJson, "X-Forwarded-For: 198.51.100." + std::to_string(i)});
    refused += r.status == 401;
    limited += r.status == 429;
  }
  EXPECT_EQ(refused, 5) << "5 attempts per minute for the one real address";
  EXPECT_EQ(limited, 7);
  EXPECT_EQ(Sql(pg_->ConnectionString(), "SELECT count(*) FROM gateway.sessions"), "1")
      << "only the sign-up's session";
}

TEST_F(TrustTest, XForwardedForFromATrustedProxyNamesTheClient) {
  Register("ana@example.com");
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(
        Fetch("POST", Url("/auth/login"), Credentials("ana@example.com", "a wrong password").dump(),
              {kJson, "X-Forwarded-For: 203.0.113.9"})
            .status,
        401);
  }
  EXPECT_EQ(Fetch("POST", Url("/auth/login"), Credentials("ana@example.com", kPassword).dump(),
                  {kJson, "X-Forwarded-For: 203.0.113.9"})
                .status,
            429)
      << "the client behind the proxy has used its budget";
  // Another client behind the same proxy has its own; the client's spoofed entry is skipped.
  Login("ana@example.com", kPassword, "6.6.6.6, 203.0.113.10");
  EXPECT_EQ(Sql(pg_->ConnectionString(),
                "SELECT ip FROM gateway.sessions ORDER BY created_at DESC LIMIT 1"),
            "203.0.113.10");
}

}  // namespace
}  // namespace crm::testing
