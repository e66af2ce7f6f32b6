// Reads from a streaming replica (docs/operations.md, "Read replica"): a real `crmd --role all`
// whose slices read their lists from a real hot standby of the test's cluster (pg_basebackup -R),
// yet always see their own writes, bypass a replica that lags, and keep serving when it stops.
#include <fstream>

#include "runtime_fixture.hpp"

namespace crm::testing {
namespace {

using namespace std::chrono_literals;

class ReadReplicaTest : public RuntimeTest {
 protected:
  void Configure(std::map<std::string, std::string>& env) override {
    replica_ = pg_->StartStandby();
    env["CRM_DB_READ_REPLICA_URL"] = replica_->ConnectionString();
    env["CRM_DB_REPLICA_MAX_LAG"] = max_lag_;
  }

  void TearDown() override {
    if (HasFailure()) {
      PrintSliceLogs();
    }
    crmd_.reset();
    replica_.reset();
    RuntimeTest::TearDown();
  }

  std::string Cookie(const Tenant& t) const { return "Cookie: crm_session=" + t.token; }

  // The replica has replayed everything the primary has written so far.
  bool CaughtUp() {
    std::string primary = Sql(pg_->ConnectionString(), "SELECT pg_current_wal_lsn()");
    return Sql(replica_->ConnectionString(),
               "SELECT pg_last_wal_replay_lsn() >= '" + primary + "'::pg_lsn") == "t";
  }

  // A contact written behind the slice's back (not its own write: it does not move the WAL
  // position the slice waits for).
  void InsertBehindTheSlicesBack(const Tenant& t, const std::string& name,
                                 const std::string& phone) {
    ASSERT_EQ(Sql(pg_->ConnectionString(), "INSERT INTO slice_" + std::to_string(t.slice) +
                                               ".contacts (name, phone) VALUES ('" + name + "', '" +
                                               phone + "')"),
              "");
  }

  // Pauses the replica's replay and waits until it has taken effect (a request alone lets the
  // next record through).
  void PauseReplay() {
    ASSERT_EQ(Sql(replica_->ConnectionString(), "SELECT pg_wal_replay_pause()"), "");
    ASSERT_TRUE(Eventually([&] {
      return Sql(replica_->ConnectionString(), "SELECT pg_get_wal_replay_pause_state()") ==
             "paused";
    }));
  }

  std::unique_ptr<PgCluster> replica_;
  std::string max_lag_ = "1h";
};

TEST_F(ReadReplicaTest, ListsComeFromTheReplicaYetEachWriteIsSeenAtOnceAndAStoppedOneIsBypassed) {
  Tenant t = Register("reader@example.com");
  ASSERT_GT(t.slice, 0);
  AddSliceContact(crmd_->url(), Cookie(t), "First", "+14155550101");
  EXPECT_TRUE(ContactNames(crmd_->url(), Cookie(t)).contains("First"));
  ASSERT_TRUE(Eventually([&] { return CaughtUp(); }));

  // Replay paused: what reaches the primary from elsewhere is not on the replica, and the list
  // (served there: the replica has the slice's last write) does not show it.
  PauseReplay();
  InsertBehindTheSlicesBack(t, "Hidden", "+14155550102");
  auto names = ContactNames(crmd_->url(), Cookie(t));
  EXPECT_TRUE(names.contains("First"));
  EXPECT_FALSE(names.contains("Hidden")) << "the list did not come from the replica";

  // The slice's own write is past the replica's replay: the list comes from the primary.
  AddSliceContact(crmd_->url(), Cookie(t), "Second", "+14155550103");
  names = ContactNames(crmd_->url(), Cookie(t));
  EXPECT_TRUE(names.contains("Second")) << "a write not seen by the next read";
  EXPECT_TRUE(names.contains("Hidden"));

  // A stopped replica: the primary serves, at once.
  ASSERT_EQ(Sql(replica_->ConnectionString(), "SELECT pg_wal_replay_resume()"), "");
  replica_->Stop();
  AddSliceContact(crmd_->url(), Cookie(t), "Third", "+14155550104");
  auto r = Fetch("GET", Url("/api/contacts?limit=100"), {}, t.Auth());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["items"].size(), 4u) << r.body;
  auto conversations = Fetch("GET", Url("/api/conversations"), {}, t.Auth());
  EXPECT_EQ(conversations.status, 200) << conversations.body;
}

class LaggingReplicaTest : public ReadReplicaTest {
 protected:
  LaggingReplicaTest() { max_lag_ = "1s"; }
};

TEST_F(LaggingReplicaTest, AReplicaWhoseReplayStopsIsBypassedOnceItIsPastTheMaximumLag) {
  Tenant t = Register("lag@example.com");
  ASSERT_GT(t.slice, 0);
  AddSliceContact(crmd_->url(), Cookie(t), "First", "+14155550101");
  ASSERT_TRUE(Eventually([&] { return CaughtUp(); }));
  PauseReplay();
  InsertBehindTheSlicesBack(t, "Behind", "+14155550102");
  // Its last replayed transaction ages past 1 s: the primary serves, and shows the row.
  EXPECT_TRUE(
      Eventually([&] { return ContactNames(crmd_->url(), Cookie(t)).contains("Behind"); }, 20s));
}

}  // namespace
}  // namespace crm::testing
