// An idle slice holds no PostgreSQL backend (docs/architecture.md, "Processes"): its pools and its
// dispatcher close their connections after slice_idle_disconnect, health probes and status reads
// open none, and the dispatcher still sends what its slice queues afterwards exactly once, and a
// task due later at its time. A slice started by its provisioning opens none to start.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "runtime_fixture.hpp"

namespace crm::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Polls `done` every 50 ms until it holds or `timeout` passes.
bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto until = Clock::now() + timeout;
  while (Clock::now() < until) {
    if (done()) {
      return true;
    }
    std::this_thread::sleep_for(50ms);
  }
  return done();
}

constexpr auto kPairInterval = 15s;

class IdleSliceTest : public RuntimeTest {
 protected:
  void Configure(std::map<std::string, std::string>& env) override {
    env["CRM_SIMULATOR_AUTOPAIR"] = "1";
    // Longer than the orchestrator's probe interval (5 s): a probe must not keep it young.
    env["CRM_SLICE_IDLE_DISCONNECT"] = "6s";
    // The poll must not be what finds the work: the wake and the due timer are under test.
    env["CRM_QUEUE_IDLE_POLL"] = "10m";
    env["CRM_QUEUE_LEASE_TTL"] = "2s";
    env["CRM_PAIR_INTERVAL"] = "15s";
  }

  // PostgreSQL backends of the slice: its role's, and any naming it (pools, dispatcher).
  std::string Backends(const Tenant& t) {
    std::string schema = "slice_" + std::to_string(t.slice);
    return Sql(pg_->ConnectionString(), "SELECT count(*) FROM pg_stat_activity WHERE usename = '" +
                                            schema + "' OR application_name LIKE 'crmd-" + schema +
                                            "%'");
  }

  // Tasks of the slice whose send went out (sent, delivered or read).
  long long Sent(const Tenant& t) {
    std::string n = Sql(pg_->ConnectionString(),
                        "SELECT count(*) FROM slice_" + std::to_string(t.slice) +
                            ".outbound_tasks WHERE state IN ('sent', 'delivered', 'read')");
    return n.empty() || n.starts_with("ERROR") ? -1 : std::stoll(n);
  }
};

TEST_F(IdleSliceTest, AnIdleSliceHoldsNoBackendYetSendsWhatIsQueuedOnceAndWhatIsDueOnTime) {
  Tenant t = Register("idle@example.com");
  ASSERT_GT(t.slice, 0);
  auto settings =
      Fetch("PATCH", Url("/api/channel/simulator/settings"),
            json{{"latency_ms", 20}, {"read_rate", 0.0}, {"reply_rate", 0.0}}.dump(), t.AuthJson());
  ASSERT_EQ(settings.status, 200) << settings.body;

  ASSERT_TRUE(WaitFor([&] { return Backends(t) == "0"; }, 30s))
      << "backends of the idle slice: " << Backends(t);
  // It stays so across the orchestrator's health probes (every 5 s) and the status the monitor
  // reads: neither opens a connection of an idle slice.
  auto quiet_until = Clock::now() + 6s;
  while (Clock::now() < quiet_until) {
    ASSERT_EQ(Backends(t), "0") << "an idle slice opened a connection";
    std::this_thread::sleep_for(100ms);
  }
  auto status = Fetch("GET", Url("/api/status"), {}, t.Auth());
  ASSERT_EQ(status.status, 200) << status.body;
  EXPECT_EQ(status.Json()["pending_tasks"], 0) << status.body;
  EXPECT_EQ(Backends(t), "0") << "GET /api/status of an idle slice opened a connection";

  // A broadcast wakes the disconnected dispatcher in process: each recipient gets it once.
  std::vector<std::string> recipients;
  for (int i = 0; i < 5; ++i) {
    recipients.push_back("+4915100000" + std::to_string(10 + i));
  }
  auto r = Fetch("POST", Url("/api/broadcasts"),
                 json{{"name", "Wake"}, {"text", "hello"}, {"recipients", recipients}}.dump(),
                 t.AuthJson());
  ASSERT_EQ(r.status, 202) << r.body;
  std::string id = std::to_string(r.Json().value("id", 0LL));
  json progress;
  ASSERT_TRUE(WaitFor(
      [&] {
        progress = Fetch("GET", Url("/api/broadcasts/" + id), {}, t.Auth()).Json();
        return progress.value("sent", 0LL) >= 5;
      },
      15s))
      << progress.dump();
  EXPECT_EQ(progress["sent"], 5);
  EXPECT_EQ(progress["failed"], 0);

  // Eleven messages to one recipient: the pair limit lets ten go and holds the eleventh back
  // for the pair interval, longer than the idle period: the dispatcher lets its connection go
  // meanwhile and must come back for it on time, with no request and no poll to prompt it.
  const std::string phone = "+4915100000099";
  for (int i = 0; i < 11; ++i) {
    auto m = Fetch("POST", Url("/api/messages"),
                   json{{"phone", phone}, {"text", "message " + std::to_string(i)}}.dump(),
                   t.AuthJson());
    ASSERT_EQ(m.status, 202) << m.body;
  }
  ASSERT_TRUE(WaitFor([&] { return Sent(t) >= 15; }, 15s)) << Sent(t);
  auto burst_sent = Clock::now();
  EXPECT_EQ(Sent(t), 15) << "the eleventh went before the pair interval";

  bool idle_seen = WaitFor([&] { return Backends(t) == "0" || Sent(t) == 16; }, 20s);
  ASSERT_TRUE(idle_seen);
  ASSERT_EQ(Sent(t), 15) << "sent before the slice went idle: nothing was waited for";
  EXPECT_EQ(Backends(t), "0");

  ASSERT_TRUE(WaitFor([&] { return Sent(t) == 16; }, kPairInterval + 5s))
      << "the held-back message was not sent within the pair interval + 5 s";
  auto late = Clock::now() - burst_sent;
  EXPECT_LE(late, kPairInterval + 3s)
      << std::chrono::duration_cast<std::chrono::milliseconds>(late).count() << " ms";

  // Exactly once, by the simulator's own count of what WhatsApp received.
  json stats = Fetch("GET", Url("/api/channel/stats"), {}, t.Auth()).Json();
  EXPECT_EQ(stats["sent_unique"], 16) << stats.dump();
  EXPECT_EQ(stats["duplicates"], 0) << stats.dump();
}

// PostgreSQL logs every backend's login here: what a slice's start connects is read from it.
class FreshSliceTest : public RuntimeTest {
 protected:
  void Configure(std::map<std::string, std::string>& env) override {
    env["CRM_SIMULATOR_AUTOPAIR"] = "1";
    ASSERT_EQ(Sql(pg_->ConnectionString(), "ALTER SYSTEM SET log_connections = on"), "");
    ASSERT_EQ(Sql(pg_->ConnectionString(), "SELECT pg_reload_conf()"), "t");
    // The postmaster rereads its configuration on the signal: a new backend sees it after that.
    ASSERT_TRUE(
        WaitFor([&] { return Sql(pg_->ConnectionString(), "SHOW log_connections") == "on"; }, 10s));
  }

  // Backends that logged in as slice `slice`'s role so far.
  int Logins(long long slice) const {
    std::ifstream log(pg_->dir() / "server.log");
    std::stringstream read;
    read << log.rdbuf();
    const std::string text = read.str();
    const std::string line = "connection authorized: user=slice_" + std::to_string(slice) + " ";
    int n = 0;
    for (std::size_t at = text.find(line); at != std::string::npos; at = text.find(line, at + 1)) {
      ++n;
    }
    return n;
  }
};

TEST_F(FreshSliceTest, AProvisionedSliceStartsWithoutConnectingAndARestartedOneChecksItsSchema) {
  Tenant t = Register("fresh@example.com");
  ASSERT_GT(t.slice, 0);
  // Provisioned (its schema migrated, its process started and healthy), assigned: no login yet.
  EXPECT_EQ(Logins(t.slice), 0) << "the slice's start connected to PostgreSQL";
  auto channel = Fetch("GET", Url("/api/channel"), {}, t.Auth());
  ASSERT_EQ(channel.status, 200) << channel.body;
  EXPECT_EQ(channel.Json()["state"], "connected") << channel.body;
  EXPECT_EQ(Logins(t.slice), 0) << "the channel's state was read from the database";

  // Its first request that needs the database connects, as an idle slice's does.
  auto contacts = Fetch("GET", Url("/api/contacts?limit=10"), {}, t.Auth());
  ASSERT_EQ(contacts.status, 200) << contacts.body;
  EXPECT_GE(Logins(t.slice), 1);

  // Settings written where no channel row was ever written (a fresh slice writes none)...
  auto settings = Fetch("PATCH", Url("/api/channel/simulator/settings"),
                        json{{"latency_ms", 20}}.dump(), t.AuthJson());
  ASSERT_EQ(settings.status, 200) << settings.body;

  // ...outlive the process. Restarted by its supervisor, a slice is not fresh: its start checks
  // its schema (a login) before any request, and reads the channel's state back.
  const std::string pid = SlicePid(t.slice);
  ASSERT_FALSE(pid.empty());
  const int before_kill = Logins(t.slice);
  ASSERT_EQ(::kill(std::stoi(pid), SIGKILL), 0);
  ASSERT_TRUE(WaitFor(
      [&] {
        const std::string now = SlicePid(t.slice);
        return !now.empty() && now != pid && Logins(t.slice) > before_kill;
      },
      20s))
      << "the restarted slice did not log in to check its schema; logins " << Logins(t.slice)
      << ", pid " << SlicePid(t.slice);
  json restarted;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = Fetch("GET", Url("/api/channel"), {}, t.Auth());
        restarted = r.Json();
        return r.status == 200;
      },
      20s))
      << restarted.dump();
  EXPECT_EQ(restarted["settings"]["latency_ms"], 20) << restarted.dump();
  EXPECT_EQ(restarted["state"], "connected") << restarted.dump();
}

}  // namespace
}  // namespace crm::testing
