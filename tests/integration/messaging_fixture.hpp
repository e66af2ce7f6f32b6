// What the messaging tests share (docs/api.md, "Messaging"): a real `crmd --role all` whose
// slices pair the simulator at once, and the broadcast, progress and simulator calls.
#pragma once

#include <signal.h>

#include <chrono>
#include <functional>
#include <thread>

#include "runtime_fixture.hpp"

namespace crm::testing {

inline const std::string kAppSecret = "an app secret of the test";
inline const std::string kVerifyToken = "a verify token";

// Polls `done` every 100 ms until it holds or `timeout` passes.
inline bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return done();
}

class MessagingTest : public RuntimeTest {
 protected:
  void Configure(std::map<std::string, std::string>& env) override {
    env["CRM_SIMULATOR_AUTOPAIR"] = "1";
    env["CRM_WHATSAPP_APP_SECRET"] = kAppSecret;
    env["CRM_WHATSAPP_VERIFY_TOKEN"] = kVerifyToken;
    env["CRM_QUEUE_LEASE_TTL"] = "2s";
    for (const auto& [k, v] : extra_) {
      env[k] = v;
    }
  }

  long long Broadcast(const Tenant& t, const std::vector<std::string>& recipients) {
    auto r =
        Fetch("POST", Url("/api/broadcasts"),
              json{{"name", "Launch"}, {"text", "Hello from the test"}, {"recipients", recipients}}
                  .dump(),
              t.AuthJson(), 60'000);
    EXPECT_EQ(r.status, 202) << r.body;
    return r.Json().value("id", 0LL);
  }

  json Progress(const Tenant& t, long long id) {
    return Fetch("GET", Url("/api/broadcasts/" + std::to_string(id)), {}, t.Auth()).Json();
  }

  // Polls broadcast `id` until its `field` count reaches `n` (counts never pass the total);
  // `*last` is the progress seen last, for the failure message.
  bool ProgressReaches(const Tenant& t, long long id, const std::string& field, long long n,
                       std::chrono::seconds timeout, json* last) {
    return WaitFor(
        [&] {
          *last = Progress(t, id);
          return last->value(field, 0LL) >= n;
        },
        timeout);
  }

  json Stats(const Tenant& t) {
    return Fetch("GET", Url("/api/channel/stats"), {}, t.Auth()).Json();
  }

  void Settings(const Tenant& t, const json& settings) {
    auto r = Fetch("PATCH", Url("/api/channel/simulator/settings"), settings.dump(), t.AuthJson());
    ASSERT_EQ(r.status, 200) << r.body;
  }

  std::string Schema(const Tenant& t) const { return "slice_" + std::to_string(t.slice); }

  // "distinct recipients/most deliveries of one" from the simulator's own record of `t` (its
  // `recipient` condition, when given, narrows it).
  std::string Deliveries(const Tenant& t, const std::string& where = "true") {
    return Sql(pg_->ConnectionString(),
               "SELECT count(DISTINCT recipient) || '/' || "
               "coalesce(max(deliveries), 0) FROM " +
                   Schema(t) + ".simulator_deliveries WHERE " + where);
  }

  // Kills the slice of `t` (SIGKILL) once broadcast `id` has sent `after` of its `total`
  // messages; returns the pid killed ("" when it had none). Its supervisor restarts it.
  std::string KillSliceMidBroadcast(const Tenant& t, long long id, long long after,
                                    long long total) {
    json p;
    EXPECT_TRUE(ProgressReaches(t, id, "sent", after, std::chrono::seconds(60), &p)) << p.dump();
    std::string pid = SlicePid(t.slice);
    EXPECT_FALSE(pid.empty());
    if (pid.empty() || ::kill(std::stoi(pid), SIGKILL) != 0) {
      ADD_FAILURE() << "slice " << t.slice << " could not be killed (pid '" << pid << "')";
      return "";
    }
    EXPECT_LT(Progress(t, id).value("sent", 0LL), total) << "killed mid-broadcast";
    return pid;
  }

  std::map<std::string, std::string> extra_;
};

}  // namespace crm::testing
