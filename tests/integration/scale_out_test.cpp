// Scale-out on loopback (docs/architecture.md, "Scale-out: gateways and slice hosts"): two
// `crmd --role gateway` and two `crmd --role slice-host` (ranges 0-50 and 50-100) on one
// PostgreSQL. Tenants on both ranges, sessions shared by the gateways, a kill -9 of a slice host
// mid-broadcast (its range adopted, every message sent once), its return (the range handed back),
// a kill -9 of a gateway.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <iostream>

#include "crm/queue/rate.hpp"
#include "runtime_fixture.hpp"

namespace crm::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const std::string kToken = "an internal token of the test, long enough";

class ScaleOutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pg_ = PgCluster::Start();
    base_ = {{"CRM_DATABASE_URL", pg_->ConnectionString()},
             {"CRM_LISTEN", "127.0.0.1:0"},
             {"CRM_LOG_LEVEL", "info"},
             {"CRM_TRUSTED_PROXIES", "127.0.0.1"},
             {"CRM_INTERNAL_TOKEN", kToken},
             {"CRM_SIMULATOR_AUTOPAIR", "1"},
             {"CRM_PHONE_RPS", "1500"},
             {"CRM_QUEUE_LEASE_TTL", "2s"},
             {"CRM_SHARD_LEASE_TTL", "3s"},
             {"CRM_WARM_SLICES", "3"}};
    gateways_.push_back(StartGateway("a"));
    hosts_.push_back(StartHost("h1", "0-50"));
    hosts_.push_back(StartHost("h2", "50-100"));
    gateways_.push_back(StartGateway("b"));
  }

  void TearDown() override {
    if (HasFailure()) {
      for (auto* group : {&gateways_, &hosts_}) {
        for (auto& p : *group) {
          if (p) {
            std::cerr << "--- " << p->url() << " ---\n" << p->Log() << "\n";
          }
        }
      }
    }
    gateways_.clear();
    hosts_.clear();
    pg_.reset();
  }

  std::unique_ptr<CrmdProcess> StartGateway(const std::string& name) {
    auto env = base_;
    env["CRM_DATA_DIR"] = Dir("gateway-" + name);
    return CrmdProcess::Start(CRM_CRMD_BINARY, {"--role", "gateway"}, env,
                              pg_->dir() / ("gateway-" + name + ".log"));
  }

  std::unique_ptr<CrmdProcess> StartHost(const std::string& name, const std::string& range) {
    auto env = base_;
    env["CRM_DATA_DIR"] = Dir("host-" + name);
    env["CRM_WORKER_SHARD_RANGE"] = range;
    return CrmdProcess::Start(CRM_CRMD_BINARY, {"--role", "slice-host"}, env,
                              pg_->dir() / ("host-" + name + ".log"));
  }

  std::string Dir(const std::string& name) {
    auto dir = pg_->dir() / name;
    fs::create_directories(dir);
    return dir.string();
  }

  std::string Db(const std::string& sql) { return Sql(pg_->ConnectionString(), sql); }

  // "127.0.0.1:PORT" of a slice host: what the gateways route to.
  static std::string Address(const CrmdProcess& p) { return p.url().substr(7); }

  Tenant Register(const std::string& gateway, const std::string& email) {
    auto r = Fetch("POST", gateway + "/auth/register",
                   json{{"email", email}, {"password", kPassword}}.dump(),
                   {kJson, "X-Forwarded-For: 198.51.100." + std::to_string(++registered_)});
    EXPECT_EQ(r.status, 201) << r.body;
    Tenant t;
    t.token = CookieValue(r.headers["set-cookie"], "crm_session");
    auto body = r.Json();
    if (body.is_object() && body["slice"].is_object()) {
      t.slice = body["slice"]["id"].get<long long>();
    }
    return t;
  }

  static std::string Cookie(const Tenant& t) { return "Cookie: crm_session=" + t.token; }

  long long Broadcast(const std::string& gateway, const Tenant& t, int recipients) {
    auto r = Fetch(
        "POST", gateway + "/api/broadcasts",
        json{{"name", "Launch"}, {"text", "Hello"}, {"recipients", Numbers(recipients)}}.dump(),
        t.AuthJson(), 60'000);
    EXPECT_EQ(r.status, 202) << r.body;
    return r.Json().value("id", 0LL);
  }

  json Progress(const std::string& gateway, const Tenant& t, long long id) {
    return SliceCall(gateway, Cookie(t), "GET", "/api/broadcasts/" + std::to_string(id)).Json();
  }

  // "distinct recipients/most deliveries of one" from the simulator's own record.
  std::string Deliveries(const Tenant& t) {
    std::string schema = "slice_" + std::to_string(t.slice);
    return Db("SELECT count(DISTINCT recipient) || '/' || max(deliveries) FROM " + schema +
              ".simulator_deliveries");
  }

  std::unique_ptr<PgCluster> pg_;
  std::map<std::string, std::string> base_;
  std::vector<std::unique_ptr<CrmdProcess>> gateways_;
  std::vector<std::unique_ptr<CrmdProcess>> hosts_;
  int registered_ = 0;
};

TEST_F(ScaleOutTest, TenantsOnBothRangesSurviveASliceHostAndAGatewayKilled) {
  const std::string a = gateways_[0]->url();
  const std::string b = gateways_[1]->url();
  // Tenants until both ranges hold one (slice ids hash to buckets 0–99).
  std::optional<Tenant> low;
  std::optional<Tenant> high;
  for (int i = 0; i < 12 && (!low || !high); ++i) {
    Tenant t = Register(i % 2 == 0 ? a : b, "tenant" + std::to_string(i) + "@example.com");
    ASSERT_GT(t.slice, 0);
    (queue::TenantBucket(t.slice) < 50 ? low : high) = t;
  }
  ASSERT_TRUE(low && high) << "no tenant on one of the ranges after 12 sign-ups";

  // Each is served by its range's host, through either gateway with the same session.
  for (const auto& [t, host] :
       {std::pair{*low, hosts_[0].get()}, std::pair{*high, hosts_[1].get()}}) {
    AddSliceContact(a, Cookie(t), "Ada " + std::to_string(t.slice), "+4915100000001");
    EXPECT_EQ(ContactNames(b, Cookie(t)), std::set<std::string>{"Ada " + std::to_string(t.slice)});
    EXPECT_EQ(Db("SELECT endpoint FROM gateway.slices WHERE id = " + std::to_string(t.slice)),
              Address(*host));
  }

  // A slice host answers gateways only.
  auto direct = Fetch("GET", hosts_[0]->url() + "/api/contacts", {},
                      {"Host: slice-" + std::to_string(low->slice), "X-Crm-User-Id: 1"});
  EXPECT_EQ(direct.status, 401) << direct.body;

  // Sign-in attempts count across gateways: 5 a minute per address, whichever gateway.
  for (int i = 0; i < 5; ++i) {
    auto r = Fetch("POST", (i % 2 == 0 ? a : b) + "/auth/login",
                   json{{"email", "tenant0@example.com"}, {"password", "wrong"}}.dump(),
                   {kJson, "X-Forwarded-For: 203.0.113.9"});
    EXPECT_EQ(r.status, 401) << r.body;
  }
  auto sixth = Fetch("POST", b + "/auth/login",
                     json{{"email", "tenant0@example.com"}, {"password", kPassword}}.dump(),
                     {kJson, "X-Forwarded-For: 203.0.113.9"});
  EXPECT_EQ(sixth.status, 429) << sixth.body;

  // A session signed out at one gateway is refused at the other at once (not after its cache).
  Tenant spare = Register(a, "leaving@example.com");
  ASSERT_EQ(Fetch("GET", a + "/auth/me", {}, spare.Auth()).status, 200);
  ASSERT_EQ(Fetch("POST", b + "/auth/logout", "{}", spare.AuthJson()).status, 204);
  EXPECT_TRUE(Eventually(
      [&] { return Fetch("GET", a + "/api/status", {}, spare.Auth()).status == 401; }, 2500ms));

  // Broadcasts on both ranges; the low range's host dies mid-broadcast, with its slices.
  SliceCall(a, Cookie(*low), "GET", "/api/status");
  SliceCall(a, Cookie(*high), "GET", "/api/status");
  long long low_id = Broadcast(a, *low, 6'000);
  long long high_id = Broadcast(b, *high, 2'000);
  ASSERT_TRUE(Eventually([&] { return Progress(a, *low, low_id).value("sent", 0) >= 500; }, 60s));
  std::string slice_pid =
      Db("SELECT pid FROM gateway.slices WHERE id = " + std::to_string(low->slice));
  ASSERT_FALSE(slice_pid.empty());
  ::kill(std::stoi(slice_pid), SIGKILL);
  ::kill(hosts_[0]->pid(), SIGKILL);
  const auto killed = Clock::now();
  EXPECT_LT(Progress(b, *low, low_id).value("sent", 0), 6'000) << "killed mid-broadcast";

  // The other host adopts the range once the lease (3 s) has expired and serves the tenant.
  ASSERT_TRUE(Eventually(
      [&] {
        return Db("SELECT endpoint FROM gateway.slices WHERE id = " + std::to_string(low->slice)) ==
               Address(*hosts_[1]);
      },
      60s));
  ASSERT_EQ(SliceCall(b, Cookie(*low), "GET", "/api/status").status, 200);
  const auto served_again =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed);
  std::cout << "tenant served again " << served_again.count() << " ms after the kill -9\n";
  EXPECT_LT(served_again, 30s);
  json p;
  ASSERT_TRUE(Eventually(
      [&] { return (p = Progress(b, *low, low_id)).value("delivered", 0) >= 6'000; }, 120s))
      << p.dump();
  EXPECT_EQ(p["sent"], 6'000);
  EXPECT_EQ(p["failed"], 0);
  EXPECT_EQ(Deliveries(*low), "6000/1");
  ASSERT_TRUE(Eventually(
      [&] { return (p = Progress(a, *high, high_id)).value("delivered", 0) >= 2'000; }, 60s))
      << p.dump();
  EXPECT_EQ(Deliveries(*high), "2000/1");

  // The host comes back (a new address here): its range is handed back to it.
  hosts_[0] = StartHost("h1-again", "0-50");
  ASSERT_TRUE(Eventually(
      [&] {
        return Db("SELECT endpoint FROM gateway.slices WHERE id = " + std::to_string(low->slice)) ==
               Address(*hosts_[0]);
      },
      60s));
  EXPECT_EQ(ContactNames(a, Cookie(*low)).count("Ada " + std::to_string(low->slice)), 1U);

  // A gateway dies: the other serves the same sessions.
  ::kill(gateways_[0]->pid(), SIGKILL);
  // (The broadcasts' recipients became contacts too.)
  EXPECT_EQ(ContactNames(b, Cookie(*low)).count("Ada " + std::to_string(low->slice)), 1U);
  EXPECT_EQ(ContactNames(b, Cookie(*high)).count("Ada " + std::to_string(high->slice)), 1U);
  // Only one gateway kept the warm pool, and it still has one after the other died.
  EXPECT_TRUE(Eventually([&] { return Fetch("GET", b + "/ready").status == 200; }, 30s));
}

}  // namespace
}  // namespace crm::testing
