// PostgreSQL behind a transaction-pooling PgBouncer (docs/operations.md, "PostgreSQL behind
// PgBouncer"): a real `crmd --role all` with CRM_DATABASE_URL through a real PgBouncer and
// CRM_DATABASE_DIRECT_URL to PostgreSQL itself, every process logging in as one NOINHERIT role
// and becoming its slice's role inside each transaction.
#include <algorithm>

#include "crm/testing/pg_bouncer.hpp"
#include "runtime_fixture.hpp"

namespace crm::testing {
namespace {

using namespace std::chrono_literals;

const std::string kLogin = "crm_app";
const std::string kLoginPassword = "a pooled login password";
constexpr int kPoolSize = 4;

// A pool's server connections, whatever their state.
int ServerConnections(const std::map<std::string, std::string>& pool) {
  int n = 0;
  for (const char* column : {"sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login"}) {
    n += std::stoi(pool.at(column));
  }
  return n;
}

class PgBouncerTest : public RuntimeTest {
 protected:
  void Configure(std::map<std::string, std::string>& env) override {
    // The shared login: NOINHERIT, so it has none of a slice's rights without SET ROLE;
    // CREATEROLE for the slices' roles; the database's schemas are its to create.
    ASSERT_EQ(Sql(pg_->ConnectionString(),
                  "CREATE ROLE " + kLogin + " LOGIN NOINHERIT CREATEROLE PASSWORD '" +
                      kLoginPassword + "'; GRANT CREATE ON DATABASE postgres TO " + kLogin),
              "");
    bouncer_ = PgBouncer::Start(*pg_, "postgres", {{kLogin, kLoginPassword}}, kPoolSize);
    env["CRM_DATABASE_URL"] = bouncer_->Url(kLogin);
    env["CRM_DATABASE_DIRECT_URL"] = Direct();
    env["CRM_DATABASE_PASSWORD"] = kLoginPassword;
    env["CRM_SIMULATOR_AUTOPAIR"] = "1";
    env["CRM_PHONE_RPS"] = "100000";
    env["CRM_QUEUE_LEASE_TTL"] = "2s";
    env["CRM_WARM_SLICES"] = "2";
  }

  void TearDown() override {
    if (HasFailure() && bouncer_) {
      std::cerr << bouncer_->Log() << "\n";
    }
    crmd_.reset();
    bouncer_.reset();
    RuntimeTest::TearDown();
  }

  // PostgreSQL itself, as the shared login (the socket is trusted: no password).
  std::string Direct() const {
    return "host=" + pg_->dir().string() + " port=5432 user=" + kLogin + " dbname=postgres";
  }

  std::string Cookie(const Tenant& t) const { return "Cookie: crm_session=" + t.token; }

  // The pooler's pool of the shared login, and the most server connections it was seen with.
  std::map<std::string, std::string> LoginPool() {
    for (auto& pool : bouncer_->Show("SHOW POOLS")) {
      if (pool["user"] == kLogin && pool["database"] == "postgres") {
        most_servers_ = std::max(most_servers_, ServerConnections(pool));
        return pool;
      }
    }
    ADD_FAILURE() << "PgBouncer has no pool for " << kLogin;
    return {};
  }

  std::string Schema(const Tenant& t) const { return "slice_" + std::to_string(t.slice); }

  std::unique_ptr<PgBouncer> bouncer_;
  int most_servers_ = 0;
};

TEST_F(PgBouncerTest, TwoTenantsThroughTransactionPoolingEachSeeTheirOwnAndEveryMessageGoesOnce) {
  Tenant a = Register("a@example.com");
  Tenant b = Register("b@example.com");
  ASSERT_GT(a.slice, 0);
  ASSERT_GT(b.slice, 0);
  ASSERT_NE(a.slice, b.slice);
  const auto phones_a = Numbers(60, "+49151");
  const auto phones_b = Numbers(40, "+49152");
  Import(a, "Alice", phones_a);
  Import(b, "Bruno", phones_b);

  // Each tenant sees its own contacts only: its search_path and role held in every transaction
  // through the pooler, whichever server connection carried it.
  for (const auto& [t, name, n] : {std::tuple(a, "Alice", 60), std::tuple(b, "Bruno", 40)}) {
    auto names = ContactNames(crmd_->url(), Cookie(t));
    EXPECT_EQ(names.size(), static_cast<std::size_t>(n));
    EXPECT_TRUE(std::all_of(names.begin(), names.end(),
                            [&](const std::string& s) { return s.rfind(name, 0) == 0; }))
        << "tenant " << t.slice << " sees another tenant's contacts";
  }

  long long id_a = Broadcast(a, phones_a);
  long long id_b = Broadcast(b, phones_b);
  ASSERT_GT(id_a, 0);
  ASSERT_GT(id_b, 0);
  json pa;
  json pb;
  ASSERT_TRUE(Eventually(
      [&] {
        LoginPool();  // sampled while both slices send
        pa = Progress(a, id_a);
        pb = Progress(b, id_b);
        return pa.value("delivered", 0) == 60 && pb.value("delivered", 0) == 40;
      },
      90s))
      << pa.dump() << "\n"
      << pb.dump();
  EXPECT_EQ(pa["status"], "completed") << pa.dump();
  EXPECT_EQ(pb["status"], "completed") << pb.dump();
  EXPECT_EQ(pa["failed"], 0);
  EXPECT_EQ(pb["failed"], 0);
  // The simulator's own record, per schema: each recipient once, none twice.
  EXPECT_EQ(Sql(pg_->ConnectionString(),
                "SELECT count(DISTINCT recipient) || '/' || "
                "max(deliveries) FROM " +
                    Schema(a) + ".simulator_deliveries"),
            "60/1");
  EXPECT_EQ(Sql(pg_->ConnectionString(),
                "SELECT count(DISTINCT recipient) || '/' || "
                "max(deliveries) FROM " +
                    Schema(b) + ".simulator_deliveries"),
            "40/1");
  EXPECT_EQ(Sql(pg_->ConnectionString(), "SELECT count(*) FROM " + Schema(b) +
                                             ".simulator_deliveries WHERE recipient LIKE "
                                             "'+49151%'"),
            "0")
      << "A's broadcast went out through B's slice";

  // Through the pooler: the pool's server connections never passed its size, for more clients
  // than that (the gateway's, both slices' and the warm one's), and the slices' own clients
  // were among them.
  auto pool = LoginPool();
  EXPECT_LE(most_servers_, kPoolSize);
  EXPECT_GT(most_servers_, 0);
  EXPECT_GT(std::stoi(pool["cl_active"]) + std::stoi(pool["cl_waiting"]), kPoolSize);
  std::set<std::string> clients;
  for (auto& client : bouncer_->Show("SHOW CLIENTS")) {
    clients.insert(client["application_name"]);
  }
  EXPECT_TRUE(clients.contains("crmd-gateway"));
  EXPECT_TRUE(clients.contains("crmd-" + Schema(a)) ||
              clients.contains("crmd-" + Schema(a) + "-channel"))
      << "slice " << a.slice << " did not go through the pooler";
  EXPECT_TRUE(clients.contains("crmd-" + Schema(b)) ||
              clients.contains("crmd-" + Schema(b) + "-channel"))
      << "slice " << b.slice << " did not go through the pooler";
  // What needs a whole session is not among the pooler's server connections: the slices'
  // dispatchers (LISTEN) and the monitor's leader lock have backends of their own.
  auto direct = [&](const std::string& where) {
    std::string pooled_pids = "0";
    for (auto& server : bouncer_->Show("SHOW SERVERS")) {
      pooled_pids += "," + server["remote_pid"];
    }
    return Sql(pg_->ConnectionString(),
               "SELECT count(*) FROM pg_stat_activity a WHERE usename = '" + kLogin + "' AND " +
                   where + " AND pid NOT IN (" + pooled_pids + ")");
  };
  std::string dispatchers = "application_name IN ('crmd-" + Schema(a) + "-dispatcher', 'crmd-" +
                            Schema(b) + "-dispatcher')";
  EXPECT_TRUE(Eventually([&] { return direct(dispatchers) == "2"; }, 10s)) << direct(dispatchers);
  std::string leader =
      "EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory' AND "
      "l.granted)";
  EXPECT_TRUE(Eventually([&] { return direct(leader) == "1"; }, 10s))
      << "the monitor's leader lock, on a direct session: " << direct(leader);
  // Nobody logs in as a slice's role: every backend is the shared login's (or the test's).
  EXPECT_EQ(Sql(pg_->ConnectionString(),
                "SELECT count(*) FROM pg_stat_activity WHERE usename LIKE 'slice\\_%'"),
            "0");
}

TEST_F(PgBouncerTest, TheSharedLoginReachesASliceOnlyAsItsRoleAndOneSlicesRoleNotAnother) {
  Tenant a = Register("a@example.com");
  Tenant b = Register("b@example.com");
  ASSERT_GT(a.slice, 0);
  ASSERT_GT(b.slice, 0);
  AddSliceContact(crmd_->url(), Cookie(a), "Alice", "+4915100000001");
  AddSliceContact(crmd_->url(), Cookie(b), "Bruno", "+4915200000001");
  // As slice A, through the pooler, in one transaction: its own contacts, not B's.
  std::string through = bouncer_->Url(kLogin) + "?password=" + "a%20pooled%20login%20password";
  EXPECT_EQ(Sql(through, "BEGIN; SET LOCAL ROLE " + Schema(a) + "; SELECT name FROM " + Schema(a) +
                             ".contacts"),
            "Alice");
  std::string refused = Sql(through, "BEGIN; SET LOCAL ROLE " + Schema(a) +
                                         "; SELECT count(*) FROM " + Schema(b) + ".contacts");
  EXPECT_NE(refused.find("permission denied"), std::string::npos) << refused;
  // Without SET ROLE the login (NOINHERIT) has no rights on any slice.
  refused = Sql(Direct(), "SELECT count(*) FROM " + Schema(a) + ".contacts");
  EXPECT_NE(refused.find("permission denied"), std::string::npos) << refused;
  // A transaction's role ends with it: what the pooler's next client gets is the login again.
  EXPECT_EQ(Sql(through, "BEGIN; SET LOCAL ROLE " + Schema(a) + "; COMMIT; SELECT current_user"),
            kLogin);
}

// Destroying a slice as the NOINHERIT login (which has no rights on the slice's objects but by
// SET ROLE) removes its schema and role; `crmd admin create` migrates through the direct URL and
// writes through the pooler.
TEST_F(PgBouncerTest, DestroyingASliceAsTheNoinheritLoginRemovesItsSchemaAndRole) {
  Tenant ana = Register("ana@example.com");
  ASSERT_GT(ana.slice, 0);
  AddSliceContact(crmd_->url(), Cookie(ana), "Kept", "+14155550100");
  std::string admin = Admin();
  std::string slice = std::to_string(ana.slice);
  auto destroyed =
      Fetch("DELETE", Url("/admin/slices/" + slice), {}, {"Cookie: crm_session=" + admin});
  ASSERT_EQ(destroyed.status, 200) << destroyed.body;
  EXPECT_EQ(destroyed.Json()["state"], "destroyed");
  EXPECT_EQ(Sql(pg_->ConnectionString(),
                "SELECT count(*) FROM pg_namespace WHERE nspname = 'slice_" + slice + "'"),
            "0");
  EXPECT_EQ(Sql(pg_->ConnectionString(),
                "SELECT count(*) FROM pg_roles WHERE rolname = 'slice_" + slice + "'"),
            "0");
  // A warm slice replaces it, provisioned the same way.
  EXPECT_TRUE(Eventually(
      [&] {
        return Sql(pg_->ConnectionString(),
                   "SELECT count(*) FROM gateway.slices WHERE state = 'available'") == "2";
      },
      60s));
}

}  // namespace
}  // namespace crm::testing
