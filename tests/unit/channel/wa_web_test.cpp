#include "crm/channel/wa_web.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <mutex>
#include <thread>

#include "crm/process.hpp"
#include "crm/testing/eventually.hpp"

namespace crm::channel {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

// The channel's waits are short: 15 s at most, polled every 20 ms.
template <class F>
bool Eventually(F done) {
  return crm::testing::Eventually(done, 15s, 20ms);
}

// The channel against the scripted fake sidecar (tests/support/fake_wa_sidecar.mjs), started by
// the channel itself as it is in a slice.
class WaWebChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/wa-web-test-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    channel_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void Start() {
    WaWebOptions options;
    options.data_dir = dir_;
    options.sidecar = CRM_FAKE_WA_SIDECAR;
    options.backoff_min = 200ms;
    options.backoff_max = 400ms;
    options.request_timeout = 5s;
    options.status_interval = 200ms;
    channel_ = std::make_unique<WaWebChannel>(options, [this](const ChannelEvents& e) {
      std::lock_guard lock(mutex_);
      for (const auto& s : e.statuses) {
        statuses_.push_back(s);
      }
      for (const auto& m : e.messages) {
        messages_.push_back(m);
      }
    });
    channel_->Start();
  }

  // A command for the fake, written whole before it can see it.
  void Control(const json& command) {
    fs::path control = dir_ / "wa-web-auth" / "control";
    ASSERT_TRUE(Eventually([&] { return fs::exists(control); }));
    fs::path tmp = control / ("tmp-" + std::to_string(++commands_));
    std::ofstream(tmp) << command.dump();
    char name[32];
    std::snprintf(name, sizeof name, "%06d.json", commands_);
    fs::rename(tmp, control / name);
    ASSERT_TRUE(Eventually([&] { return !fs::exists(control / name); }));  // taken
  }

  std::vector<json> Lines(const std::string& name) {
    std::vector<json> out;
    std::ifstream in(dir_ / "wa-web-auth" / name);
    for (std::string line; std::getline(in, line);) {
      json j = json::parse(line, nullptr, false);
      if (!j.is_discarded()) {  // a line the fake is still writing
        out.push_back(std::move(j));
      }
    }
    return out;
  }

  bool StateIs(const std::string& state) { return channel_->State().state == state; }

  void Pair() {
    ASSERT_TRUE(Eventually([&] { return StateIs("unpaired"); })) << channel_->Describe();
    Control({{"cmd", "scan"}, {"phone", "+4915100000001"}});
    ASSERT_TRUE(Eventually([&] { return StateIs("connected"); })) << channel_->Describe();
  }

  static OutboundMessage Message(const std::string& key) {
    return {key, "+4915112345678", "hello", std::nullopt};
  }

  fs::path dir_;
  int commands_ = 0;
  std::unique_ptr<WaWebChannel> channel_;
  std::mutex mutex_;
  std::vector<StatusUpdate> statuses_;
  std::vector<InboundMessage> messages_;
};

TEST_F(WaWebChannelTest, ShowsTheQrThenSendsWithAcksOncePaired) {
  Start();
  ASSERT_TRUE(Eventually([&] {
    json d = channel_->Describe();
    return d["qr"].is_string() && d["state"] == "unpaired";
  }));
  json described = channel_->Describe();
  EXPECT_EQ(described["state"], "unpaired");
  EXPECT_EQ(described["engine"], "noweb");
  // The auth directory and the socket are the slice's alone.
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "wa-web-auth").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat((dir_ / "wa-web.sock").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u);

  auto before = channel_->Send({Message("1-1")});
  EXPECT_EQ(before[0].outcome, Outcome::kRetry);

  Pair();
  EXPECT_EQ(channel_->State().phone, "+4915100000001");
  auto results = channel_->Send({Message("1-2"), Message("1-3"), {"1-4", "12", "x", std::nullopt}});
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].outcome, Outcome::kSent);
  EXPECT_FALSE(results[0].provider_id.empty());
  EXPECT_EQ(results[1].outcome, Outcome::kSent);
  EXPECT_EQ(results[2].outcome, Outcome::kFailed) << results[2].error;
  // The same key again is the journal's answer, not a second delivery.
  auto again = channel_->Send({Message("1-2")});
  EXPECT_EQ(again[0].provider_id, results[0].provider_id);
  EXPECT_EQ(Lines("deliveries.jsonl").size(), 2u);
  EXPECT_EQ(channel_->Lookup("1-2"), results[0].provider_id);
  EXPECT_EQ(channel_->Lookup("1-99"), "");

  ASSERT_TRUE(Eventually([&] {
    std::lock_guard lock(mutex_);
    return std::count_if(statuses_.begin(), statuses_.end(),
                         [](const StatusUpdate& s) { return s.status == "read"; }) == 2;
  }));
  Control({{"cmd", "inbound"}, {"from", "+4915112345678"}, {"name", "Ana"}, {"text", "hi"}});
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard lock(mutex_);
    return messages_.size() == 1;
  }));
  EXPECT_EQ(messages_[0].profile_name, "Ana");
  EXPECT_TRUE(Eventually([&] { return channel_->State().memory_bytes.has_value(); }));
}

TEST_F(WaWebChannelTest, AMalformedOrOversizedLineReconnectsAndABadEventIsDropped) {
  Start();
  Pair();
  pid_t pid = channel_->SidecarPid();
  Control({{"cmd", "bad_event"}});
  Control({{"cmd", "garbage"}});
  ASSERT_TRUE(Eventually([&] { return !StateIs("connected"); }));
  ASSERT_TRUE(Eventually([&] { return StateIs("connected"); }));
  Control({{"cmd", "oversized"}});
  ASSERT_TRUE(Eventually([&] { return !StateIs("connected"); }));
  ASSERT_TRUE(Eventually([&] { return StateIs("connected"); }));
  // The same sidecar all along: only the connection was dropped.
  EXPECT_EQ(channel_->SidecarPid(), pid);
  EXPECT_EQ(channel_->Send({Message("2-1")})[0].outcome, Outcome::kSent);
}

TEST_F(WaWebChannelTest, ASidecarKilledMidSendIsRestartedAndNothingIsSentTwice) {
  Start();
  Pair();
  Control({{"cmd", "send_delay_ms"}, {"ms", 300}});
  std::vector<OutboundMessage> batch;
  for (int i = 0; i < 6; ++i) {
    batch.push_back(Message("3-" + std::to_string(i)));
  }
  pid_t pid = channel_->SidecarPid();
  std::thread killer([&] {
    // While the second send waits for its answer (its journal complete), not between the
    // journal's two lines (a send the dispatcher must then fail rather than repeat).
    Eventually([&] {
      auto journal = Lines("sent.jsonl");
      return Lines("deliveries.jsonl").size() >= 2 && !journal.empty() &&
             journal.back()["phase"] == "sent";
    });
    ::kill(pid, SIGKILL);
  });
  auto first = channel_->Send(batch);
  killer.join();
  int retried = 0;
  for (const auto& r : first) {
    retried += r.outcome == Outcome::kRetry ? 1 : 0;
  }
  EXPECT_GE(retried, 4);
  ASSERT_TRUE(Eventually([&] { return channel_->SidecarPid() != pid && StateIs("connected"); }))
      << channel_->Describe();
  // The dispatcher's next attempt: in-doubt keys are looked up, the rest sent.
  auto second = channel_->Send(batch);
  for (std::size_t i = 0; i < second.size(); ++i) {
    EXPECT_EQ(second[i].outcome, Outcome::kSent) << i << ": " << second[i].error;
  }
  std::set<std::string> keys;
  auto deliveries = Lines("deliveries.jsonl");
  for (const auto& d : deliveries) {
    EXPECT_TRUE(keys.insert(d["client_id"].get<std::string>()).second) << d;
  }
  EXPECT_EQ(keys.size(), 6u);
}

TEST_F(WaWebChannelTest, AFailedSidecarThatExitsIsNotRestartedUntilALogout) {
  Start();
  Pair();
  for (int i = 0; i < 3; ++i) {
    Control({{"cmd", "logged_out"}});
  }
  ASSERT_TRUE(Eventually([&] { return StateIs("failed"); })) << channel_->Describe();
  Control({{"cmd", "exit"}, {"code", 1}});
  ASSERT_TRUE(Eventually([&] { return channel_->SidecarPid() == 0; }));
  // Several backoffs (200-400 ms) pass: still one start.
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(Lines("starts.jsonl").size(), 1u);
  EXPECT_EQ(channel_->State().state, "failed");
  EXPECT_NE(channel_->State().detail.find("not restarted"), std::string::npos)
      << channel_->State().detail;

  channel_->Logout();
  ASSERT_TRUE(Eventually([&] { return StateIs("unpaired"); })) << channel_->Describe();
  EXPECT_EQ(Lines("starts.jsonl").size(), 2u);
}

TEST_F(WaWebChannelTest, LookupsWithoutASidecarShareOneWaitAndCannotTell) {
  WaWebOptions options;
  options.data_dir = dir_;
  options.spawn = false;  // nobody listens on the socket
  options.backoff_min = 100ms;
  options.request_timeout = 500ms;
  channel_ = std::make_unique<WaWebChannel>(options, [](const ChannelEvents&) {});
  channel_->Start();
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(channel_->Lookup("9-" + std::to_string(i)), std::nullopt);
  }
  // One wait of 500 ms for all five, not five of them.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1500ms);
  EXPECT_EQ(channel_->State().state, "disconnected");
}

TEST_F(WaWebChannelTest, StopEndsTheSidecar) {
  Start();
  ASSERT_TRUE(Eventually([&] { return channel_->SidecarPid() != 0; }));
  pid_t pid = channel_->SidecarPid();
  channel_->Stop();
  EXPECT_FALSE(ProcessExists(pid) && !IsZombie(pid));
  EXPECT_EQ(channel_->SidecarPid(), 0);
}

}  // namespace
}  // namespace crm::channel
