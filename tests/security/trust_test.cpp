// Whom the gateway believes: the origin in mailed links and the expected Origin come from
// configuration, never from a request's Host; X-Forwarded-For counts only from a configured proxy,
// so rotating it does not escape the per-address limits; a full limiter table evicts rather than
// refusing everyone; a sign-in flood fills argon2id's own pool, not the one sessions need.
#include <atomic>
#include <thread>
#include <vector>

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

// A small table so a test can fill it; forwarded addresses stand in for a flood of clients.
class SmallLimiterTableTest : public RuntimeTest {
 protected:
  void Configure(std::map<std::string, std::string>& env) override {
    env["CRM_RATE_LIMIT_MAX_ADDRESSES"] = "10";
  }
};

TEST_F(SmallLimiterTableTest, AFullTableEvictsInsteadOfRefusingEveryNewClient) {
  Register("ana@example.com");
  for (int i = 0; i < 30; ++i) {
    auto r =
        Fetch("POST", Url("/auth/login"), Credentials("ana@example.com", "a wrong password").dump(),
              {kJson, "X-Forwarded-For: 198.18.0." + std::to_string(i)});
    ASSERT_EQ(r.status, 401) << i << ": " << r.body;
  }
  // Every entry is still inside its window; a new client must pass all the same.
  Login("ana@example.com", kPassword, "203.0.113.77");
  // And the limit itself still holds for whoever is remembered.
  for (int i = 0; i < 5; ++i) {
    Fetch("POST", Url("/auth/login"), Credentials("ana@example.com", "a wrong password").dump(),
          {kJson, "X-Forwarded-For: 203.0.113.78"});
  }
  EXPECT_EQ(Fetch("POST", Url("/auth/login"), Credentials("ana@example.com", kPassword).dump(),
                  {kJson, "X-Forwarded-For: 203.0.113.78"})
                .status,
            429);
}

// One hashing thread and a short queue, so a flood of sign-ins saturates the pool.
class HashingFloodTest : public RuntimeTest {
 protected:
  void Configure(std::map<std::string, std::string>& env) override {
    env["CRM_PASSWORD_HASH_THREADS"] = "1";
    env["CRM_PASSWORD_HASH_QUEUE"] = "2";
  }
};

TEST_F(HashingFloodTest, ALoginFloodIsRefusedWith503AndDoesNotStallSessions) {
  Tenant ana = Register("ana@example.com");
  std::atomic<bool> stop{false};
  std::atomic<int> in_flight{0};
  std::atomic<int> checked{0};
  std::atomic<int> unavailable{0};
  std::atomic<int> other{0};
  std::atomic<int> next{0};
  std::vector<std::thread> flood;
  for (int t = 0; t < 32; ++t) {
    flood.emplace_back([&] {
      while (!stop) {
        int n = next.fetch_add(1);
        // Each from its own address behind the (trusted) proxy: the per-address limit is not
        // what stops them.
        std::string ip = "198.18." + std::to_string(n / 250) + "." + std::to_string(n % 250);
        ++in_flight;
        auto r = Fetch("POST", Url("/auth/login"),
                       Credentials("ana@example.com", "a wrong password").dump(),
                       {kJson, "X-Forwarded-For: " + ip}, 30'000);
        --in_flight;
        if (r.status == 401) {
          ++checked;
        } else if (r.status == 503 && !r.headers["retry-after"].empty()) {
          ++unavailable;
          // A little back-off, so the refused do not spin the I/O threads; the pool stays full.
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        } else {
          ++other;
        }
      }
    });
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (unavailable == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  bool saturated = unavailable > 0;
  std::vector<double> seconds;
  std::vector<long> statuses;
  std::vector<int> concurrent;
  for (int i = 0; i < 5 && saturated; ++i) {
    auto me = Fetch("GET", Url("/auth/me"), {}, ana.Auth());
    concurrent.push_back(in_flight.load());
    statuses.push_back(me.status);
    seconds.push_back(me.seconds);
  }
  stop = true;
  for (auto& t : flood) {
    t.join();
  }
  ASSERT_TRUE(saturated) << "the flood never filled the hashing queue (" << checked
                         << " checked): hashes queue without bound";
  EXPECT_GT(checked.load(), 0) << "the pool kept checking passwords";
  EXPECT_EQ(other.load(), 0);
  for (std::size_t i = 0; i < statuses.size(); ++i) {
    EXPECT_EQ(statuses[i], 200);
    EXPECT_GT(concurrent[i], 0) << "answered while sign-ins were still in flight";
    EXPECT_LT(seconds[i], 2.0) << "a session lookup does not wait behind argon2id";
  }
}

}  // namespace
}  // namespace crm::testing
