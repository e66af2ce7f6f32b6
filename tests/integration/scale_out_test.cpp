// Scale-out on loopback (docs/architecture.md, "Scale-out: gateways and slice hosts"):
// - ScaleOutTest: two `crmd --role gateway` and two `crmd --role slice-host` (ranges 0-50 and
//   50-100) on one PostgreSQL. Tenants on both ranges, sessions shared by the gateways, a kill -9
//   of a slice host mid-broadcast (its range adopted, every message sent once), its return (the
//   range handed back), a kill -9 of a gateway.
// - FineRangeTest: slice hosts with ranges in hundredths of a percent (0-0.5 and 0.5-100), each
//   serving the tenants whose bucket falls in its range; the last pod of a StatefulSet of 902.
// - ShardLeaseMigrationTest: leases stored in percent, converted to basis points.
// - RenderedTier4Test, RenderedTier3Test: `crmctl render --tier 4|3 --target multi`, then what it
//   describes started from its own files (crmd.env and crmd.service of each app and slice host,
//   the nginx site over TLS, pgbouncer.ini, PostgreSQL's conf.d and install.sh), only addresses,
//   paths and secrets rewritten for loopback. Tier 4: a slice host's range adopted by the other;
//   tier 3: its one slice host restarted in place as its unit's Restart= would.
#include <gtest/gtest.h>
#include <signal.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

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

  std::string Db(const std::string& sql) { return Sql(pg_->ConnectionString(database_), sql); }

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
  std::string database_ = "postgres";  // crmd's, on pg_
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

// One gateway whose monitor checks storage each second, one slice host recording it each second.
class ScaleOutStorageTest : public ScaleOutTest {
 protected:
  void SetUp() override {
    StartDatabase();
    base_["CRM_WARM_SLICES"] = "1";
    base_["CRM_SLICE_STORAGE_QUOTA"] = "64 MiB";
    base_["CRM_SLICE_STORAGE_INTERVAL"] = "1s";
    base_["CRM_MONITOR_STORAGE_INTERVAL"] = "1s";
    gateways_.push_back(StartGateway("a"));
    hosts_.push_back(StartHost("h1", "0-100"));
  }
};

// Behind gateways only a slice's host sees its files, so only the host records its storage: the
// gateway's monitor reads that figure. It used to size every schema itself and write a size
// without the files, which hid a full slice from the alert and, until the host's next pass,
// from the quota.
TEST_F(ScaleOutStorageTest, OnlyTheSlicesHostRecordsItsStorageFilesIncluded) {
  // Every storage figure written, and when.
  Db("CREATE TABLE public.storage_writes (slice bigint, bytes bigint, "
     "at timestamptz DEFAULT clock_timestamp())");
  Db("CREATE FUNCTION public.log_storage() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
     "INSERT INTO public.storage_writes (slice, bytes) VALUES (NEW.id, NEW.storage_bytes); "
     "RETURN NULL; END $$");
  Db("CREATE TRIGGER log_storage AFTER UPDATE OF storage_bytes ON gateway.slices "
     "FOR EACH ROW EXECUTE FUNCTION public.log_storage()");
  const std::string gateway = gateways_[0]->url();
  Tenant t = Register(gateway, "files@example.com");
  ASSERT_GT(t.slice, 0);
  const std::string id = std::to_string(t.slice);
  ASSERT_EQ(SliceCall(gateway, Cookie(t), "GET", "/api/status").status, 200);
  const fs::path files = pg_->dir() / "host-h1" / "slices" / id / "files";
  ASSERT_TRUE(fs::is_directory(files)) << files;

  // 60 MiB of files in a 64 MiB quota (sparse: the accounting counts file sizes).
  std::ofstream(files / "big.bin").close();
  fs::resize_file(files / "big.bin", 60ull << 20);
  const std::string open_alert =
      "SELECT count(*) FROM gateway.alerts WHERE subject = 'slice:" + id +
      "' AND kind = 'slice_storage' AND resolved_at IS NULL";
  ASSERT_TRUE(Eventually([&] { return Db(open_alert) == "1"; }))
      << Db("SELECT string_agg(bytes::text, ', ' ORDER BY at) FROM public.storage_writes");
  // Once the files were counted, no figure without them was written.
  const std::string first_full = "(SELECT min(at) FROM public.storage_writes WHERE slice = " + id +
                                 " AND bytes >= " + std::to_string(60ll << 20) + ")";
  EXPECT_EQ(Db("SELECT count(*) FROM public.storage_writes WHERE slice = " + id + " AND at > " +
               first_full + " AND bytes < " + std::to_string(60ll << 20)),
            "0")
      << Db("SELECT string_agg(bytes::text, ', ' ORDER BY at) FROM public.storage_writes");
  EXPECT_GT(AddSliceContact(gateway, Cookie(t), "One more", "+351910000009"), 0)
      << "under the quota yet";
  fs::resize_file(files / "big.bin", 64ull << 20);
  HttpResult refused;
  ASSERT_TRUE(Eventually([&] {
    refused = SliceCall(gateway, Cookie(t), "POST", "/api/contacts",
                        json{{"name", "Too many"}, {"phone", "+351910000010"}}.dump());
    return refused.status == 507;
  })) << refused.status;
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

// The one `setting = value` of a rendered pgbouncer.ini or postgresql.conf.
std::string IniValue(const std::string& ini, const std::string& key) {
  std::smatch m;
  std::regex line("(^|\\n)" + key + " = ([^\\n]*)");
  return std::regex_search(ini, m, line) ? m[2].str() : std::string();
}

// The value of `key=` in a rendered systemd unit ("" when it has none).
std::string UnitValue(const std::string& unit, const std::string& key) {
  std::smatch m;
  std::regex line("(^|\\n)" + key + "=([^\\n]*)");
  return std::regex_search(unit, m, line) ? m[2].str() : std::string();
}

// A systemd time span as units write them ("2s", "500ms", "1min"; a bare number is seconds;
// none is systemd's default RestartSec, 100 ms).
std::chrono::milliseconds TimeSpan(const std::string& span) {
  std::smatch m;
  if (span.empty()) {
    return 100ms;
  }
  if (!std::regex_match(span, m, std::regex("(\\d+)(ms|s|min)?"))) {
    ADD_FAILURE() << "not a time span this test reads: " << span;
    return 0ms;
  }
  const long long n = std::stoll(m[1].str());
  if (m[2] == "ms") {
    return std::chrono::milliseconds(n);
  }
  return m[2] == "min" ? std::chrono::minutes(n) : std::chrono::seconds(n);
}

// SIGKILL to `pid` and to every process below it (its slices), leaves first: a unit's main
// process killed, and systemd killing the rest of its control group (KillMode=mixed) before it
// restarts the unit.
void KillUnit(pid_t pid) {
  std::map<pid_t, std::vector<pid_t>> children;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    const std::string stat = ReadFile(entry.path() / "stat");  // "" once it has gone
    const auto paren = stat.rfind(')');
    if (paren == std::string::npos) {
      continue;
    }
    std::istringstream rest(stat.substr(paren + 2));
    char state = 0;
    pid_t parent = 0;
    rest >> state >> parent;
    children[parent].push_back(std::stoi(name));
  }
  std::vector<pid_t> unit = {pid};
  for (std::size_t i = 0; i < unit.size(); ++i) {
    for (pid_t child : children[unit[i]]) {
      unit.push_back(child);
    }
  }
  for (auto it = unit.rbegin(); it != unit.rend(); ++it) {
    ::kill(*it, SIGKILL);
  }
}

// Whether process `pid` has ended (gone, or a zombie awaiting its reaper).
bool Gone(pid_t pid) {
  const std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  const auto paren = stat.rfind(')');
  return paren == std::string::npos || stat.substr(paren + 2, 1) == "Z";
}

// What `crmctl render --tier N --target multi` describes, started on loopback from its own files
// (docs/operations.md, "Rendered topologies on loopback"): PostgreSQL clusters from their hosts'
// conf.d/crm.conf and install.sh, PgBouncer from its pgbouncer.ini, each crmd from its host's
// crmd.env and the role its crmd.service starts, nginx from its site. Only addresses, paths and
// secrets are rewritten.
class RenderedTopologyTest : public ScaleOutTest {
 protected:
  void TearDown() override {
    if (HasFailure() && nginx_ > 0) {
      std::cerr << "--- nginx ---\n" << ReadFile(pg_->dir() / "nginx-error.log") << "\n";
    }
    if (HasFailure() && bouncer_) {
      std::cerr << "--- pgbouncer ---\n" << bouncer_->Log() << "\n";
    }
    if (nginx_ > 0) {
      ::kill(nginx_, SIGQUIT);
      ::waitpid(nginx_, nullptr, 0);
    }
    ScaleOutTest::TearDown();
    bouncer_.reset();
    standby_.reset();
    queue_db_.reset();
    if (!work_.empty()) {
      std::error_code ec;
      fs::remove_all(work_, ec);
    }
  }

  // `crmctl render --tier N --target multi` into a directory of the test's.
  void Render(int tier) {
    std::string dir = (fs::temp_directory_path() / "crm-render-XXXXXX").string();
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    work_ = dir;
    render_ = work_ / "render";
    auto [code, out] = RunCommand({CRM_CRMCTL_BINARY, "render", "--tier", std::to_string(tier),
                                   "--target", "multi", "--out", render_.string(), "-q"},
                                  {}, "");
    ASSERT_EQ(code, 0) << out;
  }

  // A rendered PostgreSQL host's conf.d/crm.conf for a cluster here, its WAL archiving off: the
  // off-host pgBackRest repository it archives to is not here.
  std::string Settings(const std::string& host) {
    std::string conf = ReadFile(render_ / host / "etc/postgresql/15/main/conf.d/crm.conf");
    EXPECT_FALSE(conf.empty()) << "no conf.d/crm.conf rendered for " << host;
    return std::regex_replace(conf, std::regex("(^|\\n)archive_mode = on"), "$1archive_mode = off");
  }

  // The SQL a host's install.sh runs as postgres (its `psql … <<'SQL'` block), run the same way
  // on `cluster` with the password the db_password secret holds; false when it has none.
  bool RunInstallSql(const std::string& host, const PgCluster& cluster) {
    const std::string install = ReadFile(render_ / host / "install.sh");
    const auto from = install.find("<<'SQL'\n");
    const auto to = install.find("\nSQL\n", from);
    if (from == std::string::npos || to == std::string::npos) {
      return false;
    }
    const std::string sql = install.substr(from + 8, to - from - 8) + "\n";
    auto [code, out] = RunCommand({"/usr/bin/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v",
                                   "pw=" + kDbPassword, "-d", cluster.ConnectionString()},
                                  {}, sql);
    EXPECT_EQ(code, 0) << host << "/install.sh's SQL:\n" << sql << out;
    return true;
  }

  // The rendered "host:port" of a PostgreSQL host, from its conf.d.
  std::string Server(const std::string& host) {
    return host + ":" + IniValue(Settings(host), "port");
  }

  // The primary from its rendered settings, then crmd's login role and database as its
  // install.sh creates them.
  void StartPrimary(const std::string& host) {
    pg_ = PgCluster::Start(Settings(host));
    ASSERT_TRUE(RunInstallSql(host, *pg_)) << host << "/install.sh creates no login for crmd";
    database_ = "crm";
    clusters_[Server(host)] = pg_.get();
  }

  /// A cluster for the rendered queue database `host`: its conf.d/crm.conf, and the roles and
  /// databases its install.sh creates (no more). Each crmd host whose rendered env names
  /// QUEUE_DATABASE_URL gets it pointed here.
  void StartQueueDatabase(const std::string& host) {
    queue_db_ = PgCluster::Start(Settings(host));
    ASSERT_TRUE(RunInstallSql(host, *queue_db_)) << host << "/install.sh creates no login for crmd";
    clusters_[Server(host)] = queue_db_.get();
  }

  // PgBouncer from the rendered pgbouncer.ini of `host`, its [databases] servers looked up in
  // `servers` (rendered "host:port" → cluster). The user list is what the operator installs:
  // crmd's login with the SCRAM verifier its role got, and the console's admin.
  void StartPooler(const std::string& host,
                   const std::map<std::string, const PgCluster*>& servers) {
    ini_ = ReadFile(render_ / host / "etc/pgbouncer/pgbouncer.ini");
    ASSERT_EQ(IniValue(ini_, "pool_mode"), "transaction");
    const std::string verifier =
        Sql(pg_->ConnectionString(), "SELECT rolpassword FROM pg_authid WHERE rolname = 'crm'");
    ASSERT_TRUE(verifier.starts_with("SCRAM-SHA-256$")) << verifier;
    const std::string admin = IniValue(ini_, "admin_users");
    bouncer_ = PgBouncer::StartRendered(
        ini_, pg_->dir() / "pgbouncer", servers,
        "\"crm\" \"" + verifier + "\"\n\"" + admin + "\" \"" + kConsolePassword + "\"\n",
        kConsolePassword);
    pooler_ = host + ":" + IniValue(ini_, "listen_port");
  }

  // The files the rendered env names under /etc/crmd/secrets/, in a directory of the test's.
  void WriteSecrets() {
    secrets_ = pg_->dir() / "secrets";
    fs::create_directories(secrets_);
    for (const auto& [name, value] :
         std::map<std::string, std::string>{{"db_password", kDbPassword},
                                            {"internal_token", kToken},
                                            {"whatsapp_app_secret", "an app secret"},
                                            {"whatsapp_verify_token", "a verify token"}}) {
      WriteFile(secrets_ / name, value, fs::perms::owner_read | fs::perms::owner_write);
    }
  }

  // A rendered postgresql:// URL pointed at what stands in for its server here: the pooler's
  // loopback port, or a cluster's socket (libpq keywords); user and database as rendered. A URL
  // naming no user logs in as the process's OS user, which on the host is the unit's `User=`
  // (`os_user`), not the test's.
  std::string Loopback(const std::string& url, const std::string& os_user) {
    std::smatch m;
    if (!std::regex_match(url, m, std::regex("postgresql://(?:([^@/]+)@)?([^/]+)/(\\w+)"))) {
      ADD_FAILURE() << "not a URL this test rewrites: " << url;
      return url;
    }
    const std::string user = m[1].matched ? m[1].str() : os_user;
    if (m[2] == pooler_) {
      return "postgresql://" + (user.empty() ? "" : user + "@") +
             "127.0.0.1:" + std::to_string(bouncer_->port()) + "/" + m[3].str();
    }
    auto cluster = clusters_.find(m[2].str());
    if (cluster == clusters_.end()) {
      ADD_FAILURE() << "nothing stands in for " << m[2] << " (" << url << ")";
      return url;
    }
    return "host=" + cluster->second->dir().string() + " port=5432 dbname=" + m[3].str() +
           (user.empty() ? "" : " user=" + user);
  }

  // `crmd` as the host's rendered crmd.service starts it, with its rendered crmd.env, addresses,
  // paths and secrets rewritten for loopback, and `test_env` on top.
  std::unique_ptr<CrmdProcess> StartRendered(const std::string& host,
                                             const std::map<std::string, std::string>& test_env) {
    const fs::path etc = render_ / host / "etc";
    std::smatch exec;
    const std::string unit = ReadFile(etc / "systemd/system/crmd.service");
    EXPECT_TRUE(std::regex_search(unit, exec, std::regex("ExecStart=\\S+ --role (\\S+)"))) << unit;
    auto env = ReadEnvFile(etc / "crmd/crmd.env");
    EXPECT_NE(env["CRM_DATABASE_URL"].find("@" + pooler_ + "/"), std::string::npos)
        << "rendered through the pooler: " << env["CRM_DATABASE_URL"];
    for (const char* key : {"CRM_DATABASE_URL", "CRM_DATABASE_DIRECT_URL", "DB_READ_REPLICA_URL",
                            "QUEUE_DATABASE_URL"}) {
      if (env.contains(key)) {
        env[key] = Loopback(env[key], UnitValue(unit, "User"));
      }
    }
    // A fixed port, as rendered: a restarted unit comes back where the gateways knew it.
    const std::string listen = "127.0.0.1:" + std::to_string(FreePort());
    env["CRM_LISTEN"] = listen;
    if (env.contains("CRM_ADVERTISE_ADDRESS")) {
      env["CRM_ADVERTISE_ADDRESS"] = listen;
    }
    env["CRM_DATA_DIR"] = Dir(host);
    for (auto& [key, value] : env) {
      if (value.starts_with("/etc/crmd/secrets/")) {
        value = (secrets_ / fs::path(value).filename()).string();
      }
    }
    // Not here: Stripe (billing off), the installed web files (the build's).
    for (const char* key : {"CRM_STRIPE_SECRET_KEY_FILE", "CRM_STRIPE_WEBHOOK_SECRET_FILE",
                            "CRM_STRIPE_PRICE_ID_FILE", "CRM_WEB_ROOT"}) {
      env.erase(key);
    }
    // The test's own: the simulator pairs by itself.
    env["CRM_SIMULATOR_AUTOPAIR"] = "1";
    for (const auto& [key, value] : test_env) {
      env[key] = value;
    }
    std::string text;
    for (const auto& [key, value] : env) {
      text += key + "=" + value + "\n";
    }
    const fs::path file = pg_->dir() / (host + ".env");
    WriteFile(file, text, fs::perms::owner_read | fs::perms::owner_write);
    units_[host] = {exec[1].str(), file, 0};
    return Launch(host);
  }

  // The unit's ExecStart (again, when systemd restarts it): the same role and env file; a log
  // file per start.
  std::unique_ptr<CrmdProcess> Launch(const std::string& host) {
    Unit& unit = units_.at(host);
    ++unit.starts;
    return CrmdProcess::Start(CRM_CRMD_BINARY,
                              {"--role", unit.role, "--env-file", unit.env_file.string()}, {},
                              pg_->dir() / (host + "." + std::to_string(unit.starts) + ".log"));
  }

  // The rendered nginx site of `host`, over TLS with a certificate of the test's own, its
  // upstream servers (rendered "host:port" → gateway) the gateways started here.
  void StartLoadBalancer(const std::string& host,
                         const std::map<std::string, const CrmdProcess*>& upstreams) {
    const fs::path dir = pg_->dir() / "lb";
    fs::create_directories(dir / "tmp");
    auto [code, out] =
        RunCommand({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                    "1", "-subj", "/CN=crm.example.com", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", (dir / "key.pem").string(), "-out", (dir / "cert.pem").string()},
                   {}, "");
    ASSERT_EQ(code, 0) << out;
    std::string site = ReadFile(render_ / host / "etc/nginx/sites-available/crm.conf");
    https_port_ = FreePort();
    std::vector<std::pair<std::string, std::string>> rewrites = {
        {"listen 80;", "listen 127.0.0.1:" + std::to_string(FreePort()) + ";"},
        {"listen [::]:80;", ""},
        {"listen 443 ssl http2;",
         "listen 127.0.0.1:" + std::to_string(https_port_) + " ssl http2;"},
        {"listen [::]:443 ssl http2;", ""},
        {"/etc/letsencrypt/live/crm.example.com/fullchain.pem", (dir / "cert.pem").string()},
        {"/etc/letsencrypt/live/crm.example.com/privkey.pem", (dir / "key.pem").string()},
        {"/var/www/letsencrypt", (dir / "tmp").string()},
        {"/usr/share/crmd/web", (dir / "tmp").string()}};
    for (const auto& [server, gateway] : upstreams) {
      rewrites.emplace_back("server " + server, "server " + Address(*gateway));
    }
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

  // Imports `n` contacts (the broadcasts' recipients) from CSV through the load balancer.
  void ImportContacts(const Tenant& t, int n) {
    std::string csv = "name,phone\n";
    int i = 0;
    for (const std::string& phone : Numbers(n)) {
      csv += "Contact " + std::to_string(i++) + "," + phone + "\n";
    }
    auto r = Fetch("POST", lb_ + "/api/contacts/import", csv, {Cookie(t), "Content-Type: text/csv"},
                   60'000);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.Json().value("created", 0), n) << r.body;
  }

  // Waits for broadcast `id` of `t` to deliver all its `n` messages, then checks the simulator
  // received each exactly once.
  void ExpectDeliveredOnce(const Tenant& t, long long id, int n) {
    json p;
    ASSERT_TRUE(
        Eventually([&] { return (p = Progress(lb_, t, id)).value("delivered", 0) >= n; }, 120s))
        << p.dump();
    EXPECT_EQ(p["failed"], 0);
    EXPECT_EQ(Deliveries(t), std::to_string(n) + "/1");
    // The tasks were in the rendered queue database (QUEUE_DATABASE_URL), none in the slice's
    // own schema.
    const std::string schema = "slice_" + std::to_string(t.slice);
    EXPECT_EQ(Sql(queue_db_->ConnectionString("crm_queue"),
                  "SELECT count(*) FROM " + schema +
                      ".outbound_tasks WHERE broadcast_id = " + std::to_string(id)),
              std::to_string(n));
    EXPECT_EQ(Db("SELECT count(*) FROM " + schema + ".outbound_tasks"), "0");
  }

  // crmd's queries went through the pooler (as its login, to its database), within the rendered
  // pool size and reserve.
  void ExpectPooled() {
    const int most = std::stoi(IniValue(ini_, "default_pool_size")) +
                     std::stoi(IniValue(ini_, "reserve_pool_size"));
    int pools = 0;
    for (auto& pool : bouncer_->Show("SHOW POOLS")) {
      if (pool["user"] == "crm" && pool["database"] == "crm") {
        ++pools;
        EXPECT_LE(
            std::stoi(pool["sv_active"]) + std::stoi(pool["sv_idle"]) + std::stoi(pool["sv_used"]),
            most);
      }
    }
    EXPECT_EQ(pools, 1) << "no pool of crm to crm";
  }

  struct Unit {
    std::string role;
    fs::path env_file;
    int starts = 0;
  };

  static int FreePort() { return crm::FreeLoopbackPort(); }

  static inline const std::string kDbPassword = "the rendered login password";
  static inline const std::string kConsolePassword = "the console password of the pooler";
  fs::path work_;
  fs::path render_;
  fs::path secrets_;
  std::string ini_;
  std::string pooler_;                                // the rendered "host:port" of PgBouncer
  std::map<std::string, const PgCluster*> clusters_;  // rendered "host:port" → cluster here
  std::map<std::string, Unit> units_;
  std::unique_ptr<PgBouncer> bouncer_;
  std::unique_ptr<PgCluster> standby_;
  std::unique_ptr<PgCluster> queue_db_;
  int https_port_ = 0;
  pid_t nginx_ = -1;
  std::string lb_;
};

// Tier 4: two gateways behind the load balancer host, two slice hosts (ranges 0-50, 50-100), a
// streaming replica, PgBouncer on a host of its own.
class RenderedTier4Test : public RenderedTopologyTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(Render(4));
    ASSERT_NO_FATAL_FAILURE(StartPrimary("postgres-primary"));
    standby_ = pg_->StartStandby();
    clusters_[Server("postgres-replica")] = standby_.get();
    ASSERT_NO_FATAL_FAILURE(StartQueueDatabase("queue-db-1"));
    ASSERT_NO_FATAL_FAILURE(StartPooler("pgbouncer", clusters_));
    WriteSecrets();
    // The gateways first (their ports go into the load balancer's upstream), then the slice
    // hosts. Leases short enough to wait for the surviving host's adoption.
    for (const std::string host : {"app-1", "app-2", "slice-1", "slice-2"}) {
      auto& group = host.starts_with("app") ? gateways_ : hosts_;
      group.push_back(
          StartRendered(host, {{"CRM_QUEUE_LEASE_TTL", "2s"}, {"CRM_SHARD_LEASE_TTL", "3s"}}));
    }
    StartLoadBalancer("lb",
                      {{"app-1:8080", gateways_[0].get()}, {"app-2:8080", gateways_[1].get()}});
  }
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
  ExpectPooled();

  long long low_id = Broadcast(lb_, *low, 1'500);
  long long high_id = Broadcast(lb_, *high, 500);
  ASSERT_TRUE(Eventually([&] { return Progress(lb_, *low, low_id).value("sent", 0) >= 200; }, 60s));
  KillUnit(hosts_[0]->pid());
  ExpectDeliveredOnce(*low, low_id, 1'500);
  ExpectDeliveredOnce(*high, high_id, 500);

  // A gateway dies: nginx moves its requests to the other, sessions and all.
  ::kill(gateways_[0]->pid(), SIGKILL);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(ContactNames(lb_, Cookie(*low)).count("Ada " + std::to_string(low->slice)), 1U);
    EXPECT_EQ(ContactNames(lb_, Cookie(*high)).count("Ada " + std::to_string(high->slice)), 1U);
  }
}

// Tier 3: one gateway (the app host, nginx in front of it), one slice host for the whole hash
// range, PgBouncer on the PostgreSQL host. No other host can adopt the slice host's range: when
// it dies, its unit's Restart= brings it back.
class RenderedTier3Test : public RenderedTopologyTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(Render(3));
    ASSERT_NO_FATAL_FAILURE(StartPrimary("postgres"));
    ASSERT_NO_FATAL_FAILURE(StartQueueDatabase("queue-db-1"));
    // PgBouncer runs on the primary's host: it reaches it on loopback.
    ASSERT_NO_FATAL_FAILURE(StartPooler(
        "postgres", {{"127.0.0.1:5432", pg_.get()}, {Server("queue-db-1"), queue_db_.get()}}));
    WriteSecrets();
    gateways_.push_back(StartRendered("app", {}));
    hosts_.push_back(StartRendered("slice", {}));
    StartLoadBalancer("app", {{"app:8080", gateways_[0].get()}});
  }
};

TEST_F(RenderedTier3Test, TheRenderedLayoutRestartsItsOneSliceHostInPlace) {
  // systemd restarts the slice host after a kill -9, RestartSec later.
  const std::string unit = ReadFile(render_ / "slice/etc/systemd/system/crmd.service");
  const std::string restart = UnitValue(unit, "Restart");
  ASSERT_TRUE(restart == "always" || restart == "on-failure")
      << "a kill -9 would not be restarted: Restart=" << restart;
  const auto restart_sec = TimeSpan(UnitValue(unit, "RestartSec"));

  // Two tenants, each a contact import and a broadcast to those contacts.
  const Tenant a = Register(lb_, "tier3-a@example.com");
  const Tenant b = Register(lb_, "tier3-b@example.com");
  ASSERT_NE(a.slice, 0);
  ASSERT_NE(b.slice, 0);
  for (const Tenant& t : {a, b}) {
    ASSERT_EQ(SliceCall(lb_, Cookie(t), "GET", "/api/status").status, 200);
    EXPECT_EQ(Db("SELECT endpoint FROM gateway.slices WHERE id = " + std::to_string(t.slice)),
              Address(*hosts_[0]));
  }
  ASSERT_NO_FATAL_FAILURE(ImportContacts(a, 1'500));
  ASSERT_NO_FATAL_FAILURE(ImportContacts(b, 500));
  ExpectPooled();
  const long long a_id = Broadcast(lb_, a, 1'500);
  const long long b_id = Broadcast(lb_, b, 500);

  // The slice host dies mid-broadcast, with its slices.
  json p;
  ASSERT_TRUE(
      Eventually([&] { return (p = Progress(lb_, a, a_id)).value("sent", 0) >= 200; }, 60s));
  EXPECT_LT(p.value("sent", 0), 1'500) << "killed mid-broadcast";
  std::vector<std::string> slices;
  for (const Tenant& t : {a, b}) {
    slices.push_back(Db("SELECT pid FROM gateway.slices WHERE id = " + std::to_string(t.slice)));
    ASSERT_FALSE(slices.back().empty());
  }
  KillUnit(hosts_[0]->pid());
  const auto killed = Clock::now();
  hosts_[0]->Stop();  // reaps it
  for (const std::string& pid : slices) {
    EXPECT_TRUE(Eventually([&] { return Gone(std::stoi(pid)); }, 5s)) << "slice " << pid;
  }

  // systemd: RestartSec later, the unit's ExecStart again.
  std::this_thread::sleep_for(restart_sec);
  hosts_[0] = Launch("slice");
  ASSERT_TRUE(Eventually(
      [&] { return Fetch("GET", lb_ + "/api/status", {}, a.Auth()).status == 200; }, 60s, 20ms));
  const auto served_again =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed);
  std::cout << "tenant served again " << served_again.count()
            << " ms after the kill -9 (RestartSec " << restart_sec.count() << " ms)\n";
  EXPECT_LT(served_again, 60s);

  // Every message sent once; the sessions signed in before the kill still valid.
  ExpectDeliveredOnce(a, a_id, 1'500);
  ExpectDeliveredOnce(b, b_id, 500);
  for (const Tenant& t : {a, b}) {
    EXPECT_EQ(Fetch("GET", lb_ + "/auth/me", {}, t.Auth()).status, 200);
    EXPECT_EQ(ContactNames(lb_, Cookie(t)).count("Contact 0"), 1U);
  }
}

}  // namespace
}  // namespace crm::testing
