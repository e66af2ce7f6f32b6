// The idle-memory reclaim decision and its writes, on a fake cgroup directory: an idle slice's
// memory.reclaim gets its memory.current once per idle period; a slice with an open event
// stream, unknown streams or a recent request is never touched; cgroup v1, a kernel without
// memory.reclaim and a 0 threshold report why nothing happens.
#include "crm/monitor/reclaim.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace crm::monitor {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

class ReclaimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("crm-reclaim-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    for (long long id : {7, 8}) {
      fs::create_directories(Group(id));
      std::ofstream(Group(id) / "memory.current") << (40ull << 20) << "\n";
      std::ofstream(Group(id) / "memory.reclaim").close();
    }
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path Group(long long id) const { return root_ / ("slice_" + std::to_string(id)); }
  MemoryReclaimer::GroupOf Groups() const {
    return [this](long long id) -> std::optional<fs::path> { return Group(id); };
  }
  // What was written into the slice's memory.reclaim (then emptied for the next pass).
  std::string Requested(long long id) {
    std::ifstream in(Group(id) / "memory.reclaim");
    std::ostringstream text;
    text << in.rdbuf();
    std::ofstream(Group(id) / "memory.reclaim", std::ios::trunc).close();
    return text.str();
  }
  static ReclaimCandidate Idle(long long id, long long idle_seconds,
                               std::optional<int> streams = 0) {
    return {id, true, idle_seconds, streams};
  }

  fs::path root_;
};

TEST_F(ReclaimTest, DecidesFromIdleTimeStreamsAndThePreviousReclaim) {
  const seconds ten_minutes(600);
  EXPECT_EQ(DecideReclaim(Idle(7, 601), ten_minutes, std::nullopt), ReclaimDecision::kReclaim);
  EXPECT_EQ(DecideReclaim(Idle(7, 599), ten_minutes, std::nullopt), ReclaimDecision::kNotIdle);
  EXPECT_EQ(DecideReclaim({7, true, std::nullopt, 0}, ten_minutes, std::nullopt),
            ReclaimDecision::kNotIdle);
  EXPECT_EQ(DecideReclaim(Idle(7, 3600, 1), ten_minutes, std::nullopt),
            ReclaimDecision::kStreamOpen);
  EXPECT_EQ(DecideReclaim(Idle(7, 3600, std::nullopt), ten_minutes, std::nullopt),
            ReclaimDecision::kStreamsUnknown);
  EXPECT_EQ(DecideReclaim({7, false, 3600, 0}, ten_minutes, std::nullopt),
            ReclaimDecision::kNotRunning);
  EXPECT_EQ(DecideReclaim(Idle(7, 3600), seconds(0), std::nullopt), ReclaimDecision::kOff);
  // Reclaimed at 700 s idle: still the same idle period at 760 s, a new one after a request.
  EXPECT_EQ(DecideReclaim(Idle(7, 760), ten_minutes, 700), ReclaimDecision::kDone);
  EXPECT_EQ(DecideReclaim(Idle(7, 650), ten_minutes, 700), ReclaimDecision::kReclaim);
}

TEST_F(ReclaimTest, AnIdleSliceIsReclaimedOncePerIdlePeriod) {
  MemoryReclaimer reclaimer(seconds(600), Groups(), "");
  auto done = reclaimer.Pass({Idle(7, 700), Idle(8, 30)});
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].slice_id, 7);
  EXPECT_EQ(done[0].before_bytes, 40ull << 20);
  EXPECT_EQ(Requested(7), std::to_string(40ull << 20));  // all of memory.current
  EXPECT_EQ(Requested(8), "");                           // a request 30 s ago

  EXPECT_TRUE(reclaimer.Pass({Idle(7, 760), Idle(8, 90)}).empty());
  EXPECT_EQ(Requested(7), "");  // same idle period: once is enough

  reclaimer.Pass({Idle(7, 5)});  // the tenant came back
  EXPECT_EQ(Requested(7), "");
  EXPECT_EQ(reclaimer.Pass({Idle(7, 620)}).size(), 1u);  // idle again: reclaimed again
  EXPECT_EQ(Requested(7), std::to_string(40ull << 20));

  auto status = reclaimer.Status();
  EXPECT_EQ(status["available"], true);
  EXPECT_TRUE(status["reason"].is_null());
  EXPECT_EQ(status["reclaims"], 2);
}

TEST_F(ReclaimTest, NeverWithAnOpenStreamUnknownStreamsOrARecentRequest) {
  MemoryReclaimer reclaimer(seconds(600), Groups(), "");
  EXPECT_TRUE(reclaimer.Pass({Idle(7, 7200, 1), Idle(8, 7200, std::nullopt)}).empty());
  EXPECT_TRUE(reclaimer.Pass({Idle(7, 599), {8, true, std::nullopt, 0}}).empty());
  EXPECT_TRUE(reclaimer.Pass({{7, false, 7200, 0}}).empty());
  EXPECT_EQ(Requested(7), "");
  EXPECT_EQ(Requested(8), "");
}

TEST_F(ReclaimTest, CgroupV1IsReportedUnavailableAndNothingIsWritten) {
  MemoryReclaimer reclaimer(
      seconds(600), Groups(),
      "slices are in cgroup v1 groups; memory.reclaim exists only in cgroup v2");
  EXPECT_TRUE(reclaimer.Pass({Idle(7, 7200)}).empty());
  EXPECT_EQ(Requested(7), "");
  auto status = reclaimer.Status();
  EXPECT_EQ(status["enabled"], true);
  EXPECT_EQ(status["available"], false);
  EXPECT_NE(status["reason"].get<std::string>().find("cgroup v1"), std::string::npos);
}

TEST_F(ReclaimTest, AKernelWithoutMemoryReclaimIsReportedUnavailable) {
  fs::remove(Group(7) / "memory.reclaim");
  MemoryReclaimer reclaimer(seconds(600), Groups(), "");
  EXPECT_TRUE(reclaimer.Pass({Idle(7, 7200), Idle(8, 7200)}).empty());
  EXPECT_EQ(Requested(8), "");  // unavailable for the host, not tried slice by slice
  auto status = reclaimer.Status();
  EXPECT_EQ(status["available"], false);
  EXPECT_NE(status["reason"].get<std::string>().find("5.19"), std::string::npos);
}

TEST_F(ReclaimTest, ZeroTurnsItOff) {
  MemoryReclaimer reclaimer(seconds(0), Groups(), "cgroup v1");
  EXPECT_TRUE(reclaimer.Pass({Idle(7, 7200)}).empty());
  EXPECT_EQ(Requested(7), "");
  auto status = reclaimer.Status();
  EXPECT_EQ(status["enabled"], false);
  EXPECT_EQ(status["available"], false);
  EXPECT_NE(status["reason"].get<std::string>().find("slice_reclaim_idle"), std::string::npos);
}

}  // namespace
}  // namespace crm::monitor
