// Scale-out on loopback (docs/architecture.md, "Scale-out: gateways and slice hosts"):
// - ScaleOutTest: two `crmd --role gateway` and two `crmd --role slice-host` (ranges 0-50 and
//   50-100) on one PostgreSQL. Tenants on both ranges, sessions shared by the gateways, a kill -9
//   of a slice host mid-broadcast (its range adopted, every message sent once), its return (the
//   range handed back), a kill -9 of a gateway.
// - FineRangeTest: slice hosts with ranges in hundredths of a percent (0-0.5 and 0.5-100), each
//   serving the tenants whose bucket falls in its range; the last pod of a StatefulSet of 902.
// - ShardLeaseMigrationTest: leases stored in percent, converted to basis points.
// - RenderedTier4Test: `crmctl render --tier 4 --target multi`, then what it describes started
//   from its own files (crmd.env and crmd.service of each app and slice host, the load
//   balancer's nginx site over TLS, PgBouncer's pool mode and size), only addresses, paths and
//   secrets rewritten for loopback.
#include <gtest/gtest.h>
#include <signal.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <regex>

#include "crm/db/migrations.hpp"
#include "crm/ports.hpp"
#include "crm/queue/rate.hpp"
#include "crm/testing/pg_bouncer.hpp"
#include "runtime_fixture.hpp"

namespace crm::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const std::string kToken = "an internal token of the test, long enough";

class ScaleOutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StartDatabase();
    gateways_.push_back(StartGateway("a"));
    hosts_.push_back(StartHost("h1", "0-50"));
    hosts_.push_back(StartHost("h2", "50-100"));
    gateways_.push_back(StartGateway("b"));
  }

  // PostgreSQL, and the environment every crmd of the test shares.
  void StartDatabase() {
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

  // Signs tenants up (alternating between `urls`) until one has a slice in each range (0-50 the
  // first host's); nullopt after `tries` without.
  std::optional<std::pair<Tenant, Tenant>> TenantOnEachRange(const std::vector<std::string>& urls,
                                                             const std::string& prefix, int tries) {
    std::optional<Tenant> low;
    std::optional<Tenant> high;
    for (int i = 0; i < tries && (!low || !high); ++i) {
      Tenant t = Register(urls[static_cast<std::size_t>(i) % urls.size()],
                          prefix + std::to_string(i) + "@example.com");
      if (t.slice == 0) {
        return std::nullopt;
      }
      (queue::ParseShardRange("0-50").Owns(t.slice) ? low : high) = t;
    }
    if (!low || !high) {
      return std::nullopt;
    }
    return std::pair{*low, *high};
  }

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
  // Tenants until both ranges hold one.
  auto pair = TenantOnEachRange({a, b}, "tenant", 12);
  ASSERT_TRUE(pair) << "no tenant on one of the ranges after 12 sign-ups";
  std::optional<Tenant> low = pair->first;
  std::optional<Tenant> high = pair->second;

  // Each is served by its range's host, through either gateway with the same session.
  for (const auto& [t, host] :
       {std::pair{*low, hosts_[0].get()}, std::pair{*high, hosts_[1].get()}}) {
    AddSliceContact(a, Cookie(t), "Ada " + std::to_string(t.slice), "+4915100000001");
    EXPECT_EQ(ContactNames(b, Cookie(t)), std::set<std::string>{"Ada " + std::to_string(t.slice)});
    EXPECT_EQ(Db("SELECT endpoint FROM gateway.slices WHERE id = " + std::to_string(t.slice)),
              Address(*host));
  }

  // A rolling restart asked of a gateway is done by the slices' hosts: each slice restarted
  // (a new process) and reported healthy.
  {
    auto [code, out] =
        RunCommand({CRM_CRMD_BINARY, "admin", "create", "--email", "ops@example.com"}, base_,
                   "an admin password\n");
    ASSERT_EQ(code, 0) << out;
    auto login = Fetch("POST", b + "/auth/login",
                       json{{"email", "ops@example.com"}, {"password", "an admin password"}}.dump(),
                       {kJson, "X-Forwarded-For: 198.51.100.250"});
    ASSERT_EQ(login.status, 200) << login.body;
    std::string admin =
        "Cookie: crm_session=" + CookieValue(login.headers["set-cookie"], "crm_session");
    const std::string pid_of_low =
        "SELECT pid FROM gateway.slices WHERE id = " + std::to_string(low->slice);
    std::string before = Db(pid_of_low);
    auto restarted =
        Fetch("POST", a + "/admin/slices/restart", R"({"batch":2})", {admin, kJson}, 90'000);
    ASSERT_EQ(restarted.status, 200) << restarted.body;
    json result = restarted.Json();
    EXPECT_EQ(result["stopped_early"], false) << result.dump();
    EXPECT_FALSE(result["batches"].empty()) << result.dump();
    for (const auto& group : result["batches"]) {
      for (const auto& slice : group) {
        EXPECT_EQ(slice["healthy"], true) << result.dump();
      }
    }
    EXPECT_NE(Db(pid_of_low), before) << "a new process";
    EXPECT_EQ(ContactNames(b, Cookie(*low)).count("Ada " + std::to_string(low->slice)), 1U);
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

// Slice hosts with ranges in hundredths of a percent, 0-0.5 and 0.5-100: the first owns 50 of
// the 10,000 buckets.
class FineRangeTest : public ScaleOutTest {
 protected:
  void SetUp() override {
    StartDatabase();
    // The gateway's one warm slice takes the sequence's next id: make it one that hashes into
    // 0-0.5 %, so the first tenant is the fine range's without hundreds of sign-ups.
    auto [code, out] = RunCommand({CRM_CRMD_BINARY, "migrate"}, base_, "");
    ASSERT_EQ(code, 0) << out;
    const queue::ShardRange fine = queue::ParseShardRange("0-0.5");
    while (!fine.Owns(fine_id_)) {
      ++fine_id_;
    }
    ASSERT_EQ(Db("SELECT setval('gateway.slices_id_seq', " + std::to_string(fine_id_) + ", false)"),
              std::to_string(fine_id_));
    base_["CRM_WARM_SLICES"] = "1";
    gateways_.push_back(StartGateway("a"));
    hosts_.push_back(StartHost("fine", "0-0.5"));
    hosts_.push_back(StartHost("rest", "0.5-100"));
  }

  long long fine_id_ = 1;
};

TEST_F(FineRangeTest, AHostWithARangeInHundredthsOfAPercentServesTheTenantsHashedIntoIt) {
  // Leases in basis points; each host reports its range as it was configured.
  EXPECT_EQ(Db("SELECT string_agg(from_bp || '-' || to_bp, ',' ORDER BY from_bp) FROM "
               "gateway.shard_leases"),
            "0-50,50-10000");
  EXPECT_EQ(Fetch("GET", hosts_[0]->url() + "/health").Json()["ranges"], json::array({"0-0.5"}));
  EXPECT_EQ(Fetch("GET", hosts_[1]->url() + "/health").Json()["ranges"], json::array({"0.5-100"}));

  const std::string a = gateways_[0]->url();
  Tenant fine = Register(a, "fine@example.com");
  ASSERT_EQ(fine.slice, fine_id_) << "the warm slice the sequence was set for";
  ASSERT_LT(queue::TenantBucket(fine.slice), 50);
  Tenant other = Register(a, "other@example.com");
  ASSERT_NE(other.slice, 0);
  for (const Tenant& t : {fine, other}) {
    const CrmdProcess& host =
        queue::ParseShardRange("0-0.5").Owns(t.slice) ? *hosts_[0] : *hosts_[1];
    const std::string name = "Ada " + std::to_string(t.slice);
    AddSliceContact(a, Cookie(t), name, "+4915100000001");
    EXPECT_EQ(ContactNames(a, Cookie(t)), std::set<std::string>{name});
    EXPECT_EQ(Db("SELECT endpoint FROM gateway.slices WHERE id = " + std::to_string(t.slice)),
              Address(host))
        << "slice " << t.slice << " in bucket " << queue::TenantBucket(t.slice);
  }

  // A host configured to overlap the fine range serves nothing and names the range it overlaps
  // in the notation it was configured in.
  hosts_.push_back(StartHost("overlapping", "0.25-1"));
  const std::string note =
      "WORKER_SHARD_RANGE 0.25-1 overlaps range 0-0.5 of host " + Address(*hosts_[0]);
  EXPECT_TRUE(Eventually([&] { return hosts_[2]->Log().find(note) != std::string::npos; }, 10s))
      << hosts_[2]->Log();
  EXPECT_EQ(Fetch("GET", hosts_[2]->url() + "/health").Json()["ranges"], json::array());

  // The last pod of a StatefulSet of 902 (more than the 100 percent buckets) takes its share.
  auto env = base_;
  env["CRM_DATA_DIR"] = Dir("host-pod");
  env["CRM_WORKER_SHARD_COUNT"] = "902";
  env["CRM_HOST_NAME"] = "crm-slice-host-901";
  hosts_.push_back(CrmdProcess::Start(CRM_CRMD_BINARY, {"--role", "slice-host"}, env,
                                      pg_->dir() / "host-pod.log"));
  EXPECT_TRUE(Eventually(
      [&] {
        return hosts_[3]->Log().find("WORKER_SHARD_RANGE 99.88-100 overlaps range 0.5-100") !=
               std::string::npos;
      },
      10s))
      << hosts_[3]->Log();
}

// A database whose leases were written in percent, migrated: the same tenants per range.
TEST(ShardLeaseMigrationTest, PercentRangesBecomeBasisPointsUnderNewColumnNames) {
  auto pg = PgCluster::Start();
  pqxx::connection c(pg->ConnectionString());
  std::string upgrade;
  {
    pqxx::work tx(c);
    tx.exec("CREATE SCHEMA gateway; SET LOCAL search_path TO gateway");
    for (const auto& m : db::MigrationsOf("gateway")) {
      if (m.name == "0013_hash_basis_points") {
        upgrade = std::string(m.sql);
      } else if (m.version < 13) {
        tx.exec(std::string(m.sql));
      }
    }
    // Even ranges whose ×100 collides with another row before it is converted too.
    tx.exec(
        "INSERT INTO shard_leases (range_from, range_to, home, holder, address, expires_at) "
        "VALUES (0, 1, 'a', 'a', 'a', now()), (0, 100, 'b', 'b', 'b', now()), "
        "(25, 50, 'c', 'd', 'd', now() + interval '1 minute')");
    tx.commit();
  }
  ASSERT_FALSE(upgrade.empty()) << "no migration 0013_hash_basis_points";
  {
    pqxx::work tx(c);
    tx.exec("SET LOCAL search_path TO gateway");
    tx.exec(upgrade);
    tx.commit();
  }
  const std::string rows =
      "SELECT string_agg(from_bp || '-' || to_bp || ' ' || home || '/' || holder, ', ' ORDER BY "
      "from_bp, to_bp) FROM gateway.shard_leases";
  EXPECT_EQ(Sql(pg->ConnectionString(), rows), "0-100 a/a, 0-10000 b/b, 2500-5000 c/d");
  // A previous release's query (percent columns) fails instead of misreading basis points.
  EXPECT_THROW(pqxx::work(c).exec("SELECT range_from FROM gateway.shard_leases"), pqxx::sql_error);
  for (const char* bad : {"0, 10001", "-1, 5", "50, 50"}) {
    pqxx::work tx(c);
    EXPECT_THROW(tx.exec("INSERT INTO gateway.shard_leases (from_bp, to_bp, home, holder, "
                         "address, expires_at) VALUES (" +
                         std::string(bad) + ", 'x', 'x', 'x', now())"),
                 pqxx::sql_error)
        << bad;
  }
}

}  // namespace
}  // namespace crm::testing

namespace crm::testing {
namespace {

using namespace std::chrono_literals;

// KEY=VALUE lines of a rendered env file (comments and blank lines skipped).
std::map<std::string, std::string> ReadEnvFile(const fs::path& file) {
  std::map<std::string, std::string> env;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (!line.empty() && line[0] != '#' && eq != std::string::npos) {
      env[line.substr(0, eq)] = line.substr(eq + 1);
    }
  }
  return env;
}

std::string ReadFile(const fs::path& file) {
  std::ifstream in(file);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void WriteFile(const fs::path& file, const std::string& text, fs::perms perms) {
  std::ofstream(file) << text;
  fs::permissions(file, perms, fs::perm_options::replace);
}

// The one `setting = value` of a rendered pgbouncer.ini.
std::string IniValue(const std::string& ini, const std::string& key) {
  std::smatch m;
  std::regex line("(^|\\n)" + key + " = ([^\\n]*)");
  return std::regex_search(ini, m, line) ? m[2].str() : std::string();
}

class RenderedTier4Test : public ScaleOutTest {
 protected:
  void SetUp() override {
    pg_ = PgCluster::Start();
    render_ = pg_->dir() / "render";
    auto [code, out] = RunCommand({CRM_CRMCTL_BINARY, "render", "--tier", "4", "--target", "multi",
                                   "--out", render_.string(), "-q"},
                                  {}, "");
    ASSERT_EQ(code, 0) << out;

    // PgBouncer as rendered: transaction pooling, the rendered pool size, SCRAM logins; crmd's
    // login role as the primary's install.sh creates it.
    const std::string ini = ReadFile(render_ / "pgbouncer/etc/pgbouncer/pgbouncer.ini");
    ASSERT_EQ(IniValue(ini, "pool_mode"), "transaction");
    pool_size_ = std::stoi(IniValue(ini, "default_pool_size"));
    ASSERT_EQ(Db("CREATE ROLE crm LOGIN NOINHERIT CREATEROLE PASSWORD '" + kDbPassword +
                 "'; GRANT CREATE ON DATABASE postgres TO crm"),
              "");
    bouncer_ = PgBouncer::Start(*pg_, "postgres", {{"crm", kDbPassword}}, pool_size_);
    standby_ = pg_->StartStandby();  // the rendered postgres-replica

    secrets_ = pg_->dir() / "secrets";
    fs::create_directories(secrets_);
    for (const auto& [name, value] :
         std::map<std::string, std::string>{{"db_password", kDbPassword},
                                            {"internal_token", kToken},
                                            {"whatsapp_app_secret", "an app secret"},
                                            {"whatsapp_verify_token", "a verify token"}}) {
      WriteFile(secrets_ / name, value, fs::perms::owner_read | fs::perms::owner_write);
    }
    // The gateways first (their ports go into the load balancer's upstream), then the slice
    // hosts, each with the role its rendered unit starts.
    for (const std::string host : {"app-1", "app-2", "slice-1", "slice-2"}) {
      auto& group = host.starts_with("app") ? gateways_ : hosts_;
      group.push_back(StartRendered(host));
    }
    StartLoadBalancer();
  }

  void TearDown() override {
    if (HasFailure() && nginx_ > 0) {
      std::cerr << "--- nginx ---\n" << ReadFile(pg_->dir() / "nginx-error.log") << "\n";
    }
    if (nginx_ > 0) {
      ::kill(nginx_, SIGQUIT);
      ::waitpid(nginx_, nullptr, 0);
    }
    ScaleOutTest::TearDown();
    bouncer_.reset();
    standby_.reset();
  }

  // `crmd` as the host's rendered crmd.service starts it, with its rendered crmd.env, addresses,
  // paths and secrets rewritten for loopback.
  std::unique_ptr<CrmdProcess> StartRendered(const std::string& host) {
    const fs::path etc = render_ / host / "etc";
    std::smatch exec;
    const std::string unit = ReadFile(etc / "systemd/system/crmd.service");
    EXPECT_TRUE(std::regex_search(unit, exec, std::regex("ExecStart=\\S+ --role (\\S+)"))) << unit;
    auto env = ReadEnvFile(etc / "crmd/crmd.env");
    EXPECT_NE(env["CRM_DATABASE_URL"].find("@pgbouncer:6432/"), std::string::npos)
        << "rendered through the pooler: " << env["CRM_DATABASE_URL"];
    env["CRM_DATABASE_URL"] = bouncer_->Url("crm");
    EXPECT_EQ(env["CRM_DATABASE_DIRECT_URL"], "postgresql://crm@postgres-primary:5432/crm");
    env["CRM_DATABASE_DIRECT_URL"] = AsCrm(pg_->ConnectionString());
    EXPECT_EQ(env["DB_READ_REPLICA_URL"], "postgresql://postgres-replica:5432/crm");
    env["DB_READ_REPLICA_URL"] = AsCrm(standby_->ConnectionString());
    env["CRM_LISTEN"] = "127.0.0.1:0";
    env["CRM_DATA_DIR"] = Dir(host);
    for (auto& [key, value] : env) {
      if (value.starts_with("/etc/crmd/secrets/")) {
        value = (secrets_ / fs::path(value).filename()).string();
      }
    }
    // Not here: Stripe (billing off), the installed web files (the build's), the host names
    // the slice hosts advertise (their bound loopback address instead), the queue database
    // (crmd does not read it yet).
    for (const char* key : {"CRM_STRIPE_SECRET_KEY_FILE", "CRM_STRIPE_WEBHOOK_SECRET_FILE",
                            "CRM_STRIPE_PRICE_ID_FILE", "CRM_WEB_ROOT", "CRM_ADVERTISE_ADDRESS",
                            "QUEUE_DATABASE_URL"}) {
      env.erase(key);
    }
    // The test's own: the simulator pairs by itself; leases short enough to wait for.
    env["CRM_SIMULATOR_AUTOPAIR"] = "1";
    env["CRM_QUEUE_LEASE_TTL"] = "2s";
    env["CRM_SHARD_LEASE_TTL"] = "3s";
    std::string text;
    for (const auto& [key, value] : env) {
      text += key + "=" + value + "\n";
    }
    const fs::path file = pg_->dir() / (host + ".env");
    WriteFile(file, text, fs::perms::owner_read | fs::perms::owner_write);
    return CrmdProcess::Start(CRM_CRMD_BINARY,
                              {"--role", exec[1].str(), "--env-file", file.string()}, {},
                              pg_->dir() / (host + ".log"));
  }

  // The load balancer's rendered nginx site, over TLS with a certificate of the test's own.
  void StartLoadBalancer() {
    const fs::path dir = pg_->dir() / "lb";
    fs::create_directories(dir / "tmp");
    auto [code, out] =
        RunCommand({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                    "1", "-subj", "/CN=crm.example.com", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", (dir / "key.pem").string(), "-out", (dir / "cert.pem").string()},
                   {}, "");
    ASSERT_EQ(code, 0) << out;
    std::string site = ReadFile(render_ / "lb/etc/nginx/sites-available/crm.conf");
    https_port_ = FreePort();
    const std::vector<std::pair<std::string, std::string>> rewrites = {
        {"server app-1:8080", "server " + Address(*gateways_[0])},
        {"server app-2:8080", "server " + Address(*gateways_[1])},
        {"listen 80;", "listen 127.0.0.1:" + std::to_string(FreePort()) + ";"},
        {"listen [::]:80;", ""},
        {"listen 443 ssl http2;",
         "listen 127.0.0.1:" + std::to_string(https_port_) + " ssl http2;"},
        {"listen [::]:443 ssl http2;", ""},
        {"/etc/letsencrypt/live/crm.example.com/fullchain.pem", (dir / "cert.pem").string()},
        {"/etc/letsencrypt/live/crm.example.com/privkey.pem", (dir / "key.pem").string()},
        {"/var/www/letsencrypt", (dir / "tmp").string()},
        {"/usr/share/crmd/web", (dir / "tmp").string()}};
    for (const auto& [from, to] : rewrites) {
      auto at = site.find(from);
      ASSERT_NE(at, std::string::npos) << "the rendered site no longer has " << from;
      site.replace(at, from.size(), to);
    }
    WriteFile(dir / "crm.conf", site, fs::perms::owner_read | fs::perms::owner_write);
    const std::string t = (dir / "tmp").string();
    WriteFile(dir / "nginx.conf",
              // As root its workers stay root: its temporary files live in the test's directory.
              std::string(::geteuid() == 0 ? "user root;\n" : "") + "daemon off;\npid " +
                  (dir / "nginx.pid").string() + ";\nerror_log " +
                  (pg_->dir() / "nginx-error.log").string() +
                  " warn;\nevents { worker_connections 1024; }\nhttp {\n  access_log off;\n"
                  "  client_body_temp_path " +
                  t + "/body;\n  proxy_temp_path " + t + "/proxy;\n  fastcgi_temp_path " + t +
                  "/fastcgi;\n  uwsgi_temp_path " + t + "/uwsgi;\n  scgi_temp_path " + t +
                  "/scgi;\n  include " + (dir / "crm.conf").string() + ";\n}\n",
              fs::perms::owner_read | fs::perms::owner_write);
    nginx_ = StartProcess({"/usr/sbin/nginx", "-c", (dir / "nginx.conf").string(), "-e",
                           (pg_->dir() / "nginx-error.log").string()},
                          {}, pg_->dir() / "nginx.log");
    TrustCertificates((dir / "cert.pem").string());
    lb_ = "https://127.0.0.1:" + std::to_string(https_port_);
    ASSERT_TRUE(Eventually([&] { return Fetch("GET", lb_ + "/ready").status == 200; }, 15s))
        << ReadFile(pg_->dir() / "nginx-error.log");
  }

  // A connection string of the test's clusters, as crmd's login role.
  static std::string AsCrm(const std::string& conninfo) {
    return std::regex_replace(conninfo, std::regex("user=postgres"), "user=crm");
  }

  static int FreePort() { return crm::FreeLoopbackPort(); }

  static inline const std::string kDbPassword = "the rendered login password";
  fs::path render_;
  fs::path secrets_;
  std::unique_ptr<PgBouncer> bouncer_;
  std::unique_ptr<PgCluster> standby_;
  int pool_size_ = 0;
  int https_port_ = 0;
  pid_t nginx_ = -1;
  std::string lb_;
};

TEST_F(RenderedTier4Test, TheRenderedLayoutServesTenantsThroughAHostAndAGatewayKilled) {
  // Tenants on both ranges, through the load balancer.
  // (At most 5: the rendered nginx lets one address sign up 6 times at once.)
  auto pair = TenantOnEachRange({lb_}, "tier4-", 5);
  ASSERT_TRUE(pair) << "no tenant on one of the ranges after 5 sign-ups";
  std::optional<Tenant> low = pair->first;
  std::optional<Tenant> high = pair->second;
  for (const auto& [t, host] :
       {std::pair{*low, hosts_[0].get()}, std::pair{*high, hosts_[1].get()}}) {
    AddSliceContact(lb_, Cookie(t), "Ada " + std::to_string(t.slice), "+4915100000001");
    // Lists may come from the replica: a write is seen by the next read all the same.
    EXPECT_EQ(ContactNames(lb_, Cookie(t)).count("Ada " + std::to_string(t.slice)), 1U);
    EXPECT_EQ(Db("SELECT endpoint FROM gateway.slices WHERE id = " + std::to_string(t.slice)),
              Address(*host));
  }
  // The slices' queries went through the pooler, within its rendered pool size.
  bool pooled = false;
  for (auto& pool : bouncer_->Show("SHOW POOLS")) {
    if (pool["user"] == "crm") {
      pooled =
          std::stoi(pool["sv_active"]) + std::stoi(pool["sv_idle"]) + std::stoi(pool["sv_used"]) <=
          pool_size_;
    }
  }
  EXPECT_TRUE(pooled);

  long long low_id = Broadcast(lb_, *low, 1'500);
  long long high_id = Broadcast(lb_, *high, 500);
  ASSERT_TRUE(Eventually([&] { return Progress(lb_, *low, low_id).value("sent", 0) >= 200; }, 60s));
  std::string slice_pid =
      Db("SELECT pid FROM gateway.slices WHERE id = " + std::to_string(low->slice));
  ASSERT_FALSE(slice_pid.empty());
  ::kill(std::stoi(slice_pid), SIGKILL);
  ::kill(hosts_[0]->pid(), SIGKILL);
  json p;
  ASSERT_TRUE(Eventually(
      [&] { return (p = Progress(lb_, *low, low_id)).value("delivered", 0) >= 1'500; }, 120s))
      << p.dump();
  EXPECT_EQ(p["failed"], 0);
  EXPECT_EQ(Deliveries(*low), "1500/1");
  ASSERT_TRUE(Eventually(
      [&] { return (p = Progress(lb_, *high, high_id)).value("delivered", 0) >= 500; }, 60s))
      << p.dump();
  EXPECT_EQ(Deliveries(*high), "500/1");

  // A gateway dies: nginx moves its requests to the other, sessions and all.
  ::kill(gateways_[0]->pid(), SIGKILL);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(ContactNames(lb_, Cookie(*low)).count("Ada " + std::to_string(low->slice)), 1U);
    EXPECT_EQ(ContactNames(lb_, Cookie(*high)).count("Ada " + std::to_string(high->slice)), 1U);
  }
}

}  // namespace
}  // namespace crm::testing
