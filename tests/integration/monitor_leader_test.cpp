// One leader among several gateways: two monitors (as two gateways would run them) on one real
// PostgreSQL. Exactly one leads and samples; the other reads nothing and writes nothing; when
// the leader stops, or its lock's session is cut, the other takes over within its next retry.
#include "crm/monitor/monitor.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <pqxx/pqxx>

#include "orchestrator_fixture.hpp"
#include "runtime_fixture.hpp"

namespace crm::testing {
namespace {

using namespace std::chrono_literals;

// The hours the two gateways' clocks start at.
constexpr int kA = 0;
constexpr int kB = 12;

// A host that never changes; counts how often it was read.
class CountingProbe final : public monitor::HostProbe {
 public:
  explicit CountingProbe(std::atomic<int>& reads) : reads_(reads) {}
  monitor::HostReading Host() override {
    ++reads_;
    monitor::HostReading r;
    r.ram_total_bytes = 8ull << 30;
    r.ram_available_bytes = 6ull << 30;
    r.disk_total_bytes = 100ull << 30;
    r.disk_used_bytes = 10ull << 30;
    return r;
  }
  std::optional<monitor::ProcessReading> Process(pid_t) override { return std::nullopt; }
  long TicksPerSecond() override { return 100; }

 private:
  std::atomic<int>& reads_;
};

class MonitorLeaderTest : public OrchestratorDbTest {
 protected:
  void TearDown() override {
    a_.reset();
    b_.reset();
    OrchestratorDbTest::TearDown();
  }

  // A gateway's monitor whose clock runs from `hour` o'clock on 2031-01-01 (one real second = one
  // second), so the telemetry rows say which monitor wrote them. Hours apart, within the 48 h the
  // raw rows are kept: one monitor's pruning never deletes the other's rows.
  std::unique_ptr<monitor::Monitor> Gateway(int hour, std::atomic<int>& reads) {
    monitor::MonitorOptions options;
    for (auto* every :
         {&options.process_interval, &options.health_interval, &options.whatsapp_interval,
          &options.storage_interval, &options.telemetry_interval, &options.backup_interval}) {
      *every = 1s;
    }
    options.disk_path = pg_->dir();
    std::string conninfo = pg_->ConnectionString();
    auto start = std::chrono::steady_clock::now();
    auto base = std::chrono::sys_days{std::chrono::year{2031} / 1 / 1} + std::chrono::hours(hour);
    crm::Clock clock = [start, base] {
      return std::chrono::time_point_cast<crm::Time::duration>(
          base + std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() -
                                                                  start));
    };
    return std::make_unique<monitor::Monitor>(
        options, *pool_, *orchestrator_,
        [conninfo] { return std::make_unique<pqxx::connection>(conninfo); },
        std::make_unique<CountingProbe>(reads), clock);
  }

  // Server telemetry rows the monitor whose clock starts at `hour` wrote.
  long long Rows(int hour) {
    return std::stoll(Sql(pg_->ConnectionString(),
                          "SELECT count(*) FROM gateway.server_telemetry WHERE extract(hour FROM "
                          "ts AT TIME ZONE 'UTC') = " +
                              std::to_string(hour)));
  }

  std::unique_ptr<monitor::Monitor> a_;
  std::unique_ptr<monitor::Monitor> b_;
  std::atomic<int> a_reads_{0};
  std::atomic<int> b_reads_{0};
};

TEST_F(MonitorLeaderTest, OneLeadsTheOtherTakesOverWhenItStops) {
  a_ = Gateway(kA, a_reads_);
  a_->Start();
  ASSERT_TRUE(Eventually([&] { return a_->leader(); }, 20s));
  b_ = Gateway(kB, b_reads_);
  b_->Start();
  // A samples pass after pass; B, following, neither reads the host nor writes.
  ASSERT_TRUE(Eventually([&] { return Rows(kA) >= 3; }, 20s));
  EXPECT_TRUE(a_->leader());
  EXPECT_FALSE(b_->leader());
  EXPECT_EQ(Rows(kB), 0);
  EXPECT_EQ(b_reads_, 0);
  // One row per pass: as many rows as the leader read the host (the first pass has no rate yet,
  // but writes its row all the same).
  EXPECT_LE(Rows(kA), a_reads_.load());

  a_->Stop();  // its session ends, and the advisory lock with it
  long long a_rows = Rows(kA);
  ASSERT_TRUE(Eventually([&] { return b_->leader(); }, 20s));
  ASSERT_TRUE(Eventually([&] { return Rows(kB) >= 2; }, 20s));
  EXPECT_EQ(Rows(kA), a_rows);
}

TEST_F(MonitorLeaderTest, ALeaderWhoseSessionIsCutStopsWritingAndOneLeadsAgain) {
  a_ = Gateway(kA, a_reads_);
  a_->Start();
  ASSERT_TRUE(Eventually([&] { return a_->leader(); }, 20s));
  b_ = Gateway(kB, b_reads_);
  b_->Start();
  ASSERT_TRUE(Eventually([&] { return Rows(kA) >= 2; }, 20s));

  // Cut the leader's lock session from the server side, as a restart or a network cut would.
  std::string cut = Sql(pg_->ConnectionString(),
                        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = "
                        "'advisory' AND granted");
  ASSERT_EQ(cut, "t");
  // Someone leads again (A reconnecting or B), and only one.
  ASSERT_TRUE(Eventually(
      [&] {
        return a_->leader() != b_->leader() &&
               Sql(pg_->ConnectionString(),
                   "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND "
                   "granted") == "1";
      },
      30s));
  // From now on only the leader's rows grow.
  bool a_leads = a_->leader();
  long long a_rows = Rows(kA);
  long long b_rows = Rows(kB);
  ASSERT_TRUE(
      Eventually([&] { return a_leads ? Rows(kA) >= a_rows + 3 : Rows(kB) >= b_rows + 3; }, 20s));
  EXPECT_EQ(a_leads ? Rows(kB) : Rows(kA), a_leads ? b_rows : a_rows);
}

}  // namespace
}  // namespace crm::testing
