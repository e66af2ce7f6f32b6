// Slices behind the host's pooler (docs/operations.md, "Slices behind the host's pooler"): a real
// `crmd --role all` with CRM_SLICE_POOL_SIZE starts a real PgBouncer for its slices; however many
// slices send at once, their PostgreSQL backends stay within the pool's size, each slice still
// logs in as its own role, and an idle slice holds none.
#include <signal.h>

#include <algorithm>
#include <fstream>
#include <thread>

#include "crm/http/probe.hpp"
#include "runtime_fixture.hpp"

namespace crm::testing {
namespace {

using namespace std::chrono_literals;

constexpr int kPoolSize = 3;
constexpr int kTenants = 5;

class SlicePoolerTest : public RuntimeTest {
 protected:
  void Configure(std::map<std::string, std::string>& env) override {
    env["CRM_SLICE_POOL_SIZE"] = std::to_string(kPoolSize);
    env["CRM_SLICE_POOL_PER_SLICE"] = "2";
    env["CRM_SLICE_POOL_IDLE_TIMEOUT"] = "1s";
    env["CRM_SLICE_IDLE_DISCONNECT"] = "1s";
    env["CRM_SIMULATOR_AUTOPAIR"] = "1";
    env["CRM_PHONE_RPS"] = "100000";
    env["CRM_WARM_SLICES"] = "2";
  }

  void TearDown() override {
    if (HasFailure()) {
      std::ifstream log(Pooler() / "pgbouncer.log");
      std::cerr << "--- pgbouncer.log ---\n" << log.rdbuf() << "\n";
      PrintSliceLogs();
    }
    RuntimeTest::TearDown();
  }

  fs::path Pooler() const { return data_ / "pgbouncer"; }

  // PostgreSQL backends logged in as slices' roles.
  int SliceBackends() {
    return std::stoi(Sql(pg_->ConnectionString(),
                         "SELECT count(*) FROM pg_stat_activity WHERE usename LIKE 'slice\\_%'"));
  }

  // The pooler's console, slices' logins and the socket, as a client on this host would see it.
  std::string ThroughPooler(const std::string& user, const std::string& password,
                            const std::string& sql) {
    return Sql("host=" + Pooler().string() + " port=6432 dbname=postgres user=" + user +
                   " password=" + password + " connect_timeout=3",
               sql);
  }

  // Within `within`, the tenant's contacts (its slice, through the pooler) list Ana.
  ::testing::AssertionResult ListsAna(const Tenant& t, std::chrono::seconds within) {
    HttpResult r;
    if (Eventually(
            [&] {
              r = Fetch("GET", Url("/api/contacts?limit=10"), {}, t.Auth());
              return r.status == 200 && r.body.find("Ana") != std::string::npos;
            },
            within)) {
      return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure() << r.status << " " << r.body;
  }

  long PoolerPid() {
    std::ifstream in(Pooler() / "pgbouncer.pid");
    long pid = 0;
    in >> pid;
    return pid;
  }
};

TEST_F(SlicePoolerTest, ActiveSlicesShareTheBoundedBackendsAsTheirOwnRolesAndEveryMessageGoesOnce) {
  std::vector<Tenant> tenants;
  for (int i = 0; i < kTenants; ++i) {
    tenants.push_back(Register("t" + std::to_string(i) + "@example.com"));
    ASSERT_GT(tenants.back().slice, 0);
  }
  std::vector<std::vector<std::string>> phones;
  for (int i = 0; i < kTenants; ++i) {
    phones.push_back(Numbers(30 + 10 * i, "+4915" + std::to_string(i)));
    Import(tenants[i], "T" + std::to_string(i), phones[i]);
  }
  // Each tenant sees its own contacts only, whichever server connection carried the query.
  for (int i = 0; i < kTenants; ++i) {
    auto names = ContactNames(crmd_->url(), "Cookie: crm_session=" + tenants[i].token);
    EXPECT_EQ(names.size(), phones[i].size());
    std::string prefix = "T" + std::to_string(i) + " ";
    EXPECT_TRUE(std::all_of(names.begin(), names.end(),
                            [&](const std::string& n) { return n.rfind(prefix, 0) == 0; }))
        << "tenant " << i << " sees another tenant's contacts";
  }

  // Every slice sends at once; a sampler watches PostgreSQL's backends meanwhile.
  std::atomic<bool> sampling{true};
  std::atomic<int> most{0};
  std::mutex roles_mutex;
  std::set<std::string> roles;
  std::thread sampler([&] {
    while (sampling) {
      std::string seen =
          Sql(pg_->ConnectionString(),
              "SELECT count(*) || ':' || coalesce(string_agg(DISTINCT usename, ','), "
              "'') FROM pg_stat_activity WHERE usename LIKE 'slice\\_%'");
      auto colon = seen.find(':');
      if (colon != std::string::npos) {
        most = std::max(most.load(), std::stoi(seen.substr(0, colon)));
        std::string list = seen.substr(colon + 1);
        std::lock_guard lock(roles_mutex);
        for (std::size_t at = 0; at < list.size();) {
          auto comma = std::min(list.find(',', at), list.size());
          roles.insert(list.substr(at, comma - at));
          at = comma + 1;
        }
      }
      std::this_thread::sleep_for(20ms);
    }
  });
  std::vector<long long> ids;
  for (int i = 0; i < kTenants; ++i) {
    ids.push_back(Broadcast(tenants[i], phones[i]));
    ASSERT_GT(ids.back(), 0);
  }
  bool done = Eventually(
      [&] {
        for (int i = 0; i < kTenants; ++i) {
          if (Progress(tenants[i], ids[i]).value("delivered", 0) !=
              static_cast<int>(phones[i].size())) {
            return false;
          }
        }
        return true;
      },
      90s);
  sampling = false;
  sampler.join();
  ASSERT_TRUE(done);
  for (int i = 0; i < kTenants; ++i) {
    json p = Progress(tenants[i], ids[i]);
    EXPECT_EQ(p["status"], "completed") << p.dump();
    EXPECT_EQ(p["failed"], 0) << p.dump();
    // The simulator's own record, per schema: each recipient once, none twice.
    EXPECT_EQ(Sql(pg_->ConnectionString(),
                  "SELECT count(DISTINCT recipient) || '/' || max(deliveries) FROM slice_" +
                      std::to_string(tenants[i].slice) + ".simulator_deliveries"),
              std::to_string(phones[i].size()) + "/1");
  }
  // The bound held, for more slices than it has backends, and the backends were the slices' own
  // roles (several of them), not a shared login.
  EXPECT_LE(most.load(), kPoolSize);
  EXPECT_GT(most.load(), 0);
  EXPECT_GE(roles.size(), 2u);
  // Idle, the slices hold no backend: the pooler closes what they no longer use.
  EXPECT_TRUE(Eventually([&] { return SliceBackends() == 0; }, 20s)) << SliceBackends();
}

TEST_F(SlicePoolerTest, ThePoolerLetsInOnlyASliceWithItsOwnPasswordAndComesBackWhenKilled) {
  Tenant a = Register("a@example.com");
  ASSERT_GT(a.slice, 0);
  AddSliceContact(crmd_->url(), "Cookie: crm_session=" + a.token, "Ana", "+4915100000001");
  std::string role = "slice_" + std::to_string(a.slice);
  // The pooler's socket, as another local user would try it: a slice's role with a guessed
  // password, PostgreSQL's superuser, a role that is no slice's.
  std::string refused = ThroughPooler(role, "guessed", "SELECT 1");
  EXPECT_NE(refused.find("SASL authentication failed"), std::string::npos) << refused;
  refused = ThroughPooler("postgres", "guessed", "SELECT 1");
  EXPECT_EQ(refused.rfind("ERROR", 0), 0u) << refused;
  // Nor the console with a guessed password.
  refused = Sql("host=" + Pooler().string() +
                    " port=6432 dbname=pgbouncer user=crmd_console password=guessed",
                "SHOW POOLS");
  EXPECT_EQ(refused.rfind("ERROR", 0), 0u) << refused;
  // Its files: the logins readable by their owner only.
  EXPECT_EQ(fs::status(Pooler() / "logins.txt").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);

  // Killed, it is restarted and the slice reaches its data again.
  long before = PoolerPid();
  ASSERT_GT(before, 1);
  ASSERT_EQ(::kill(static_cast<pid_t>(before), SIGKILL), 0);
  EXPECT_TRUE(ListsAna(a, 30s));
  EXPECT_NE(PoolerPid(), before);
}

// The orchestrator kills a slice that misses three GET /health probes in a row. Behind the pooler
// a database check would wait for one of the shared backends, behind every other slice's work:
// a busy host read as hung slices, killed mid-request. The probe is answered by the process.
TEST_F(SlicePoolerTest, ASliceAnswersItsHealthProbeWhileThePoolerIsBusy) {
  Tenant a = Register("a@example.com");
  ASSERT_GT(a.slice, 0);
  const std::string endpoint = Sql(pg_->ConnectionString(),
                                   "SELECT endpoint FROM gateway.slices WHERE id = " +
                                       std::to_string(a.slice));
  long pooler = PoolerPid();
  ASSERT_GT(pooler, 1);
  // A request leaves the slice's connection to the pooler idle in its pool; then the pooler
  // answers nobody, as when every backend is taken and the queue is long.
  AddSliceContact(crmd_->url(), "Cookie: crm_session=" + a.token, "Ana", "+4915100000001");
  ASSERT_EQ(::kill(static_cast<pid_t>(pooler), SIGSTOP), 0);
  const bool answered = http::Probe(http::ParseEndpoint(endpoint), "/health", 1s);
  ::kill(static_cast<pid_t>(pooler), SIGCONT);
  EXPECT_TRUE(answered) << "GET /health waited for the pooler";
  EXPECT_TRUE(ListsAna(a, 10s));
  EXPECT_EQ(PoolerPid(), pooler) << "the pooler was restarted, not just busy";
}

}  // namespace
}  // namespace crm::testing
