// The wa-web channel end to end (docs/wa-web.md): a real crmd whose slices run the scripted fake
// sidecar (tests/support/fake_wa_sidecar.mjs) as their child; pairing, a broadcast with its acks,
// an inbound reply, logouts and the monitor's alert, a sidecar killed mid-broadcast.
#include <signal.h>

#include <fstream>

#include "runtime_fixture.hpp"

namespace crm::testing {
namespace {

using namespace std::chrono_literals;

class WaWebTest : public RuntimeTest {
 protected:
  void Configure(std::map<std::string, std::string>& env) override {
    env["CRM_CHANNEL"] = "wa-web";
    env["CRM_WA_WEB_SIDECAR"] = CRM_FAKE_WA_SIDECAR;
    env["CRM_QUEUE_LEASE_TTL"] = "2s";
    for (const char* key : {"PROCESS", "HEALTH", "WHATSAPP", "TELEMETRY"}) {
      env[std::string("CRM_MONITOR_") + key + "_INTERVAL"] = "1s";
    }
    env["CRM_MONITOR_WHATSAPP_GRACE"] = "2s";
  }

  fs::path Auth(const Tenant& t) const {
    return data_ / "slices" / std::to_string(t.slice) / "wa-web-auth";
  }

  // A command for the fake, whole before it can see it (it takes *.json files in name order);
  // returns once the fake has taken it.
  void Control(const Tenant& t, const json& command) {
    fs::path dir = Auth(t) / "control";
    Channel(t);  // the connect page asks for the session: the sidecar starts (on demand)
    ASSERT_TRUE(Eventually([&] { return fs::exists(dir); }));
    char name[32];
    std::snprintf(name, sizeof name, "%06d.json", ++commands_);
    fs::path tmp = dir / ("tmp-" + std::to_string(commands_));
    std::ofstream(tmp) << command.dump();
    fs::rename(tmp, dir / name);
    // Taken (the fake deletes what it has done): the test's next step sees its effect.
    ASSERT_TRUE(Eventually([&] { return !fs::exists(dir / name); }));
  }

  // The fake's deliveries: `n` sends, none of them twice (by client message id).
  void ExpectEachDeliveredOnce(const Tenant& t, int n) {
    std::set<std::string> keys;
    for (const auto& d : Lines(t, "deliveries.jsonl")) {
      EXPECT_TRUE(keys.insert(d["client_id"].get<std::string>()).second) << "twice: " << d;
    }
    EXPECT_EQ(keys.size(), static_cast<std::size_t>(n));
  }

  std::vector<json> Lines(const Tenant& t, const std::string& name) {
    std::vector<json> out;
    std::ifstream in(Auth(t) / name);
    for (std::string line; std::getline(in, line);) {
      json j = json::parse(line, nullptr, false);
      if (!j.is_discarded()) {  // a line the fake is still writing
        out.push_back(std::move(j));
      }
    }
    return out;
  }

  // GET /api/channel; another answer as {"http_status", "body"} (so a failure message shows it).
  json Channel(const Tenant& t) {
    auto r = Fetch("GET", Url("/api/channel"), {}, t.Auth());
    json body = r.Json();
    if (r.status != 200 || !body.is_object()) {
      return {{"http_status", r.status}, {"body", r.body}};
    }
    return body;
  }

  bool ChannelIs(const Tenant& t, const std::string& state) {
    return Channel(t).value("state", "") == state;
  }

  void Pair(const Tenant& t) {
    ASSERT_TRUE(Eventually([&] { return ChannelIs(t, "unpaired"); })) << Channel(t);
    Control(t, {{"cmd", "scan"}, {"phone", "+4915100000001"}});
    ASSERT_TRUE(Eventually([&] { return ChannelIs(t, "connected"); })) << Channel(t);
  }

  json Alerts(const std::string& admin, long long slice) {
    auto r = Fetch("GET", Url("/admin/alerts?state=all&limit=1000"), {},
                   {"Cookie: crm_session=" + admin});
    last_alerts_ = r.body;
    json out = json::array();
    const json body = r.Json();
    for (const auto& a : body["items"]) {
      if (a["subject"] == "slice:" + std::to_string(slice) &&
          a["kind"] == "whatsapp_disconnected" && a["resolved_at"].is_null()) {
        out.push_back(a);
      }
    }
    return out;
  }

  // The sidecar's pid from the slice's pid file (the tenant's GET /api/channel does not show it);
  // 0 when none has been started.
  pid_t SidecarPid(const Tenant& t) const {
    pid_t pid = 0;
    std::ifstream(data_ / "slices" / std::to_string(t.slice) / "wa-web.pid") >> pid;
    return pid;
  }

  // Whether `pid` runs (not gone, not a zombie waiting to be reaped).
  static bool Running(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto close = stat.rfind(')');
    return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
  }

  std::string SliceLog(const Tenant& t) const {
    std::ifstream in(data_ / "slices" / std::to_string(t.slice) / "slice.log");
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  std::string Tasks(const Tenant& t, const std::string& what) {
    return Sql(pg_->ConnectionString(),
               "SELECT " + what + " FROM slice_" + std::to_string(t.slice) + ".outbound_tasks");
  }

  int commands_ = 0;
  std::string last_alerts_;  ///< the last GET /admin/alerts, for failure messages
};

TEST_F(WaWebTest, ASliceThatNeverPairedRunsNoSidecarUntilTheConnectPageAsks) {
  Tenant t = Register("dormant@example.com");
  fs::path pid = data_ / "slices" / std::to_string(t.slice) / "wa-web.pid";
  // Its status says why nothing runs; neither it nor the warm slice beside it has a sidecar.
  auto status = Fetch("GET", Url("/api/status"), {}, t.Auth());
  ASSERT_EQ(status.status, 200) << status.body;
  EXPECT_NE(status.body.find("starts when the connect page is opened"), std::string::npos)
      << status.body;
  EXPECT_FALSE(fs::exists(pid));
  for (const auto& entry : fs::directory_iterator(data_ / "slices")) {
    EXPECT_FALSE(fs::exists(entry.path() / "wa-web.pid")) << entry.path();
  }
  // The connect page starts it: a QR follows.
  Channel(t);
  ASSERT_TRUE(Eventually([&] { return ChannelIs(t, "unpaired"); })) << Channel(t);
  EXPECT_TRUE(fs::exists(pid));
}

// The sidecar is the slice's child in the slice's memory group (docs/wa-web.md, "Processes"):
// the slice joined the group before exec, so what it starts can never run outside the limit.
TEST_F(WaWebTest, TheSidecarRunsInTheSlicesMemoryGroup) {
  Tenant t = Register("grouped@example.com");
  Channel(t);
  ASSERT_TRUE(Eventually([&] { return ChannelIs(t, "unpaired"); })) << Channel(t);
  std::string sidecar = std::to_string(SidecarPid(t));
  ASSERT_NE(sidecar, "0");
  auto memory_group = [](const std::string& pid) {
    std::ifstream in("/proc/" + pid + "/cgroup");
    for (std::string line; std::getline(in, line);) {
      auto first = line.find(':');
      auto second = line.find(':', first + 1);
      std::string controllers = "," + line.substr(first + 1, second - first - 1) + ",";
      if (controllers == ",," || controllers.find(",memory,") != std::string::npos) {
        return line.substr(first + 1);  // "memory:/…/slice_7"
      }
    }
    return std::string();
  };
  std::string slice_group = memory_group(SlicePid(t.slice));
  EXPECT_EQ(memory_group(sidecar), slice_group);
  auto admin = Fetch("GET", Url("/admin/slices/" + std::to_string(t.slice)), {},
                     {"Cookie: crm_session=" + Admin()})
                   .Json();
  if (admin.value("limit_mechanism", "") != "rlimit-as") {
    EXPECT_TRUE(slice_group.ends_with("/slice_" + std::to_string(t.slice))) << slice_group;
  }
}

TEST_F(WaWebTest, QrThenPairedThenABroadcastWithAcksThenAReplyThenALogoutRaisesTheAlert) {
  Tenant t = Register("wa@example.com");
  std::string admin = Admin();
  ASSERT_TRUE(Eventually([&] {
    json c = Channel(t);
    return c["qr"].is_string() && c["state"] == "unpaired";
  })) << Channel(t);
  json channel = Channel(t);
  EXPECT_EQ(channel["kind"], "wa-web");
  EXPECT_EQ(channel["state"], "unpaired");
  EXPECT_EQ(channel["engine"], "noweb");
  auto svg = Fetch("GET", Url("/api/channel/qr.svg"), {}, t.Auth());
  EXPECT_EQ(svg.status, 200);
  EXPECT_NE(svg.body.find("<svg"), std::string::npos);
  auto code = Fetch("POST", Url("/api/channel/wa-web/pair-code"), R"({"phone":"+4915100000001"})",
                    t.AuthJson());
  ASSERT_EQ(code.status, 200) << code.body;
  EXPECT_EQ(code.Json()["code"], "FAKE-0001");
  auto bad = Fetch("POST", Url("/api/channel/wa-web/pair-code"), R"({"phone":"12"})", t.AuthJson());
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.Json()["field"], "phone") << bad.body;

  Control(t, {{"cmd", "scan"}, {"phone", "+4915100000001"}});
  ASSERT_TRUE(Eventually([&] { return ChannelIs(t, "connected"); })) << Channel(t);
  EXPECT_EQ(Channel(t)["phone"], "+4915100000001");
  EXPECT_EQ(Fetch("GET", Url("/api/channel/qr.svg"), {}, t.Auth()).status, 404);
  // The sidecar's memory in the status block.
  ASSERT_TRUE(Eventually([&] {
    json s = Fetch("GET", Url("/api/status"), {}, t.Auth()).Json();
    return s["channel"]["state"] == "connected" && s["channel"]["rss_bytes"].is_number_integer() &&
           s["channel"]["rss_bytes"].get<long long>() > 1'000'000;
  }));

  auto numbers = Numbers(5, "+49152");
  long long id = Broadcast(t, numbers);
  json p;
  ASSERT_TRUE(Eventually([&] {
    p = Progress(t, id);
    return p.value("read", 0) == 5;
  })) << p;
  EXPECT_EQ(p["failed"], 0);
  EXPECT_EQ(p["status"], "completed");
  EXPECT_EQ(Tasks(t, "string_agg(DISTINCT state, ',')"), "read");
  auto deliveries = Lines(t, "deliveries.jsonl");
  ASSERT_EQ(deliveries.size(), 5u);
  EXPECT_EQ(deliveries[0]["text"], "Hello");

  // A reply: the inbox takes it with the contact's push name.
  Control(t,
          {{"cmd", "inbound"}, {"from", "+4915199999999"}, {"name", "Ana Lima"}, {"text", "hi!"}});
  ASSERT_TRUE(Eventually([&] {
    return ContactNames(crmd_->url(), "Cookie: crm_session=" + t.token).count("Ana Lima") == 1;
  }));
  auto conversations = Fetch("GET", Url("/api/conversations"), {}, t.Auth()).Json();
  ASSERT_FALSE(conversations["items"].empty()) << conversations;

  // The monitor has seen it connected (its telemetry samples what its WhatsApp check read).
  ASSERT_TRUE(Eventually([&] {
    json slices = Fetch("GET", Url("/admin/slices"), {}, {"Cookie: crm_session=" + admin}).Json();
    for (const auto& s : slices["items"]) {
      if (s["id"] == t.slice) {
        return s["wa_state"] == "connected";
      }
    }
    return false;
  }));
  // The phone removes the device: a new QR, and the monitor's alert once the grace is over.
  Control(t, {{"cmd", "logged_out"}});
  ASSERT_TRUE(Eventually([&] { return ChannelIs(t, "unpaired"); })) << Channel(t);
  EXPECT_TRUE(Eventually([&] { return !Alerts(admin, t.slice).empty(); }))
      << last_alerts_ << "\n"
      << Fetch("GET", Url("/admin/slices"), {}, {"Cookie: crm_session=" + admin}).body;
}

TEST_F(WaWebTest, FailedAfterRepeatedLogoutsIsAlertedAndNotRestartedInALoop) {
  Tenant t = Register("failing@example.com");
  std::string admin = Admin();
  Pair(t);
  for (int i = 0; i < 3; ++i) {
    Control(t, {{"cmd", "logged_out"}});
  }
  ASSERT_TRUE(Eventually([&] { return ChannelIs(t, "failed"); })) << Channel(t);
  json alerts;
  ASSERT_TRUE(Eventually([&] {
    alerts = Alerts(admin, t.slice);
    return !alerts.empty();
  })) << last_alerts_;
  EXPECT_NE(alerts[0].dump().find("3 times in a row"), std::string::npos) << alerts;
  // A failed sidecar that exits stays stopped: several backoffs (1 s, 2 s) later, one start.
  Control(t, {{"cmd", "exit"}, {"code", 1}});
  pid_t failed = SidecarPid(t);
  ASSERT_NE(failed, 0);
  ASSERT_TRUE(Eventually([&] { return !Running(failed); })) << Channel(t) << SliceLog(t);
  std::this_thread::sleep_for(4s);
  EXPECT_EQ(Lines(t, "starts.jsonl").size(), 1u);
  json channel = Channel(t);
  EXPECT_EQ(channel["state"], "failed");
  EXPECT_NE(channel["detail"].get<std::string>().find("not restarted"), std::string::npos)
      << channel;
  // The tenant's logout starts it again, with a new QR.
  auto out = Fetch("POST", Url("/api/channel/wa-web/logout"), "{}", t.AuthJson());
  EXPECT_EQ(out.status, 200) << out.body;
  ASSERT_TRUE(Eventually([&] { return ChannelIs(t, "unpaired"); })) << Channel(t) << SliceLog(t);
  EXPECT_EQ(Lines(t, "starts.jsonl").size(), 2u);
}

TEST_F(WaWebTest, ASidecarKilledMidBroadcastIsRestartedAndEveryRecipientGetsItExactlyOnce) {
  Tenant t = Register("killed@example.com");
  Pair(t);
  Control(t, {{"cmd", "send_delay_ms"}, {"ms", 100}});
  const int n = 30;
  long long id = Broadcast(t, Numbers(n, "+49152"));
  // Killed while a send waits for its answer (its journal complete: the lookup finds it), not
  // between the journal's two lines (which is failed rather than risk a duplicate, as it should).
  ASSERT_TRUE(Eventually([&] {
    auto journal = Lines(t, "sent.jsonl");
    return Lines(t, "deliveries.jsonl").size() >= 8 && !journal.empty() &&
           journal.back()["phase"] == "sent";
  }));
  pid_t before = SidecarPid(t);
  ASSERT_NE(before, 0);
  ASSERT_EQ(::kill(before, SIGKILL), 0);
  EXPECT_LT(Lines(t, "deliveries.jsonl").size(), static_cast<std::size_t>(n));
  json p;
  ASSERT_TRUE(Eventually(
      [&] {
        p = Progress(t, id);
        return p.value("read", 0) + p.value("failed", 0) == n;
      },
      60s))
      << p << Channel(t);
  EXPECT_EQ(p["read"], n);
  EXPECT_EQ(p["failed"], 0) << Tasks(t, "string_agg(last_error, ' | ')") << "\n" << SliceLog(t);
  EXPECT_NE(SidecarPid(t), before) << "the slice restarted its sidecar";
  EXPECT_EQ(Lines(t, "starts.jsonl").size(), 2u);
  ExpectEachDeliveredOnce(t, n);
  // The interrupted sends took another attempt (after a lookup of the in-doubt ones).
  EXPECT_NE(Tasks(t, "max(attempts)"), "1");
}

class WaWebHeldTest : public WaWebTest {
 protected:
  void Configure(std::map<std::string, std::string>& env) override {
    WaWebTest::Configure(env);
    env["CRM_QUEUE_MAX_ATTEMPTS"] = "2";  // dead-lettered within seconds, were attempts spent
  }
};

// A session that cannot send holds its queue (docs/wa-web.md, "Supervision"): nothing is tried
// while logged out, the broadcast and the connect page say why, and pairing again sends every
// message exactly once.
TEST_F(WaWebHeldTest, ABroadcastWhileLoggedOutWaitsWithoutUsingAttemptsAndGoesOnceOnPairing) {
  Tenant t = Register("held@example.com");
  Pair(t);
  Control(t, {{"cmd", "logged_out"}});
  ASSERT_TRUE(Eventually([&] { return ChannelIs(t, "unpaired"); })) << Channel(t);
  const int n = 5;
  long long id = Broadcast(t, Numbers(n, "+49152"));
  json p;
  ASSERT_TRUE(Eventually([&] {
    p = Progress(t, id);
    return p.contains("held_reason") && p["held_reason"].is_string();
  })) << p;
  EXPECT_NE(p["held_reason"].get<std::string>().find("not paired"), std::string::npos) << p;
  EXPECT_EQ(Channel(t)["held_reason"], p["held_reason"]) << Channel(t);
  // Longer than two attempts' backoff (1 s, 2 s) takes: nothing tried, nothing dead-lettered.
  EXPECT_FALSE(Eventually(
      [&] { return Tasks(t, "count(*) FILTER (WHERE state <> 'pending' OR attempts > 0)") != "0"; },
      6s))
      << Tasks(t, "string_agg(state || ':' || attempts || ':' || coalesce(last_error, ''), ' | ')");
  EXPECT_TRUE(Lines(t, "deliveries.jsonl").empty());

  Control(t, {{"cmd", "scan"}, {"phone", "+4915100000001"}});
  ASSERT_TRUE(Eventually([&] {
    p = Progress(t, id);
    return p.value("read", 0) == n;
  })) << p
      << SliceLog(t);
  EXPECT_EQ(p["failed"], 0);
  EXPECT_TRUE(p["held_reason"].is_null()) << p;
  EXPECT_TRUE(Channel(t)["held_reason"].is_null()) << Channel(t);
  ExpectEachDeliveredOnce(t, n);
  EXPECT_EQ(Tasks(t, "max(attempts)"), "1");
}

class WaWebSwitchTest : public RuntimeTest {
 protected:
  void Configure(std::map<std::string, std::string>& env) override {
    env["CRM_WA_WEB_SIDECAR"] = CRM_FAKE_WA_SIDECAR;
  }
};

TEST_F(WaWebSwitchTest, CrmctlSwitchesASliceToWaWebWithItsEngineAndRefusesABadOne) {
  Tenant t = Register("switch@example.com");
  std::string admin = Admin();
  EXPECT_EQ(Fetch("GET", Url("/api/status"), {}, t.Auth()).Json()["channel"]["kind"], "simulator");
  auto refused =
      Fetch("PUT", Url("/admin/slices/" + std::to_string(t.slice) + "/channel"),
            R"({"channel":"wa-web","engine":"chrome"})", {"Cookie: crm_session=" + admin, kJson});
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(refused.Json()["field"], "engine") << refused.body;

  std::map<std::string, std::string> cli_env = {{"CRM_URL", crmd_->url()},
                                                {"CRM_ADMIN_TOKEN", admin}};
  auto [code, out] = RunCommand({CRM_CRMCTL_BINARY, "slices", "channel", std::to_string(t.slice),
                                 "wa-web", "--engine", "webjs"},
                                cli_env, "");
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("channel: wa-web (engine webjs)"), std::string::npos) << out;
  ASSERT_TRUE(Eventually([&] {
    json s =
        SliceCall(crmd_->url(), "Cookie: crm_session=" + t.token, "GET", "/api/channel").Json();
    return s.value("kind", "") == "wa-web" && s.value("state", "") == "unpaired";
  }));
  std::ifstream starts(data_ / "slices" / std::to_string(t.slice) / "wa-web-auth" / "starts.jsonl");
  std::string first;
  std::getline(starts, first);
  EXPECT_EQ(json::parse(first)["engine"], "webjs");

  // Back to the simulator: the sidecar goes with the old slice process.
  pid_t sidecar = 0;
  {
    std::ifstream pid(data_ / "slices" / std::to_string(t.slice) / "wa-web.pid");
    pid >> sidecar;
  }
  ASSERT_GT(sidecar, 0);
  // The sidecar is the slice's child, in the slice's cgroup (and so its memory limit).
  auto cgroup = [](const std::string& pid) {
    std::ifstream in("/proc/" + pid + "/cgroup");
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  EXPECT_EQ(cgroup(std::to_string(sidecar)), cgroup(SlicePid(t.slice)));
  EXPECT_NE(cgroup(std::to_string(sidecar)), cgroup("self"));
  auto [back_code, back] = RunCommand(
      {CRM_CRMCTL_BINARY, "slices", "channel", std::to_string(t.slice), "simulator"}, cli_env, "");
  ASSERT_EQ(back_code, 0) << back;
  EXPECT_TRUE(Eventually([&] { return ::kill(sidecar, 0) != 0; })) << "sidecar still runs";
}

}  // namespace
}  // namespace crm::testing
