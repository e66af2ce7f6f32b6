// A bad day for crmd's processes: a gateway killed and restarted at once while its slices drain, a
// slice that stops answering, a SIGHUP, and one slice trying to reach another's files and memory
// (docs/security.md).
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <thread>

#include "../integration/runtime_fixture.hpp"
#include "crm/http/probe.hpp"

namespace crm::testing {
namespace {

using namespace std::chrono_literals;

// Polls `done` until it holds or `timeout` passes (the only waiting these tests do).
bool Eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) {
      return true;
    }
    std::this_thread::sleep_for(50ms);
  }
  return done();
}

// Whether `pid` has exited (gone, or a zombie nobody reaped yet).
bool Exited(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(stat, text)) {
    return true;
  }
  auto close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() && text[close + 2] == 'Z';
}

std::string Health(const std::string& conninfo, long long slice) {
  return Sql(conninfo, "SELECT health FROM gateway.slices WHERE id = " + std::to_string(slice));
}

class ProcessTest : public RuntimeTest {
 protected:
  void Configure(std::map<std::string, std::string>& env) override {
    env["CRM_SLICE_HEALTH_INTERVAL"] = "1s";
  }

  bool Serves(const Tenant& t) {
    return Fetch("GET", Url("/api/contacts"), {}, t.Auth()).status == 200;
  }
};

// The gateway dies (kill -9) and comes back at once on the same data and database while the old
// slice process is still draining (held stopped here, so it exits only after the new one
// serves). The old process's exit must not take the new process's socket with it.
TEST_F(ProcessTest, AGatewayKilledAndRestartedAtOnceKeepsTheTenantServed) {
  Tenant ana = Register("ana@example.com");
  ASSERT_TRUE(Serves(ana));
  auto old_slice = static_cast<pid_t>(std::stoi(SlicePid(ana.slice)));
  ASSERT_EQ(::kill(old_slice, SIGSTOP), 0);
  ::kill(crmd_->pid(), SIGKILL);
  crmd_->Stop(5s);  // reaps it
  crmd_ = CrmdProcess::Start(CRM_CRMD_BINARY, {"--role", "all"}, env_, pg_->dir() / "crmd2.log");
  ASSERT_TRUE(Eventually([&] { return Serves(ana); }, 10s)) << "the new slice never served";
  ASSERT_TRUE(Eventually([&] { return SlicePid(ana.slice) != std::to_string(old_slice); }, 10s));

  // The old slice now gets its SIGTERM (sent when its gateway died), drains and exits.
  ASSERT_EQ(::kill(old_slice, SIGCONT), 0);
  ASSERT_TRUE(Eventually([&] { return Exited(old_slice); }, 15s)) << "the old slice never exited";

  // The gateway keeps pooled connections to a slice: a fresh one shows what new ones would get.
  std::string endpoint =
      Sql(pg_->ConnectionString(),
          "SELECT endpoint FROM gateway.slices WHERE id = " + std::to_string(ana.slice));
  EXPECT_TRUE(
      Eventually([&] { return http::Probe(http::ParseEndpoint(endpoint), "/health", 1s); }, 10s))
      << "nothing answers on " << endpoint << " after the old slice exited";
  EXPECT_TRUE(Eventually([&] { return Serves(ana); }, 10s))
      << "the tenant is refused after the old slice exited";
  for (int i = 0; i < 20; ++i) {
    EXPECT_TRUE(Serves(ana)) << "request " << i;
  }
  EXPECT_EQ(Health(pg_->ConnectionString(), ana.slice), "healthy");
}

// A slice that stops answering (stopped, deadlocked, swapped out) is found by the periodic probe
// and restarted; the admin API does not keep saying healthy.
TEST_F(ProcessTest, ASliceThatStopsAnsweringIsRestarted) {
  Tenant ana = Register("ana@example.com");
  ASSERT_TRUE(Serves(ana));
  std::string before = SlicePid(ana.slice);
  auto hung = static_cast<pid_t>(std::stoi(before));
  ASSERT_EQ(::kill(hung, SIGSTOP), 0);

  EXPECT_TRUE(Eventually(
      [&] {
        return SlicePid(ana.slice) != before &&
               Health(pg_->ConnectionString(), ana.slice) == "healthy";
      },
      20s))
      << "pid " << SlicePid(ana.slice) << ", health " << Health(pg_->ConnectionString(), ana.slice);
  EXPECT_TRUE(Eventually([&] { return Serves(ana); }, 10s));
  EXPECT_TRUE(Eventually([&] { return Exited(hung); }, 5s)) << "the hung process was left running";
  EXPECT_NE(Sql(pg_->ConnectionString(),
                "SELECT last_error FROM gateway.slices WHERE id = " + std::to_string(ana.slice))
                .find("GET /health"),
            std::string::npos);
  ::kill(hung, SIGCONT);
}

}  // namespace
}  // namespace crm::testing
