// The telemetry report's judgements: what counts as a leak, a trend, thrashing and stress.
#include "crm/monitor/report.hpp"

#include <gtest/gtest.h>

namespace crm::monitor {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;

IdleFit Fit(long long id, double slope_mib_per_hour, long long samples = 60,
            double span_seconds = 3600, std::optional<double> r2 = 0.95) {
  IdleFit f;
  f.slice_id = id;
  f.samples = samples;
  f.span_seconds = span_seconds;
  f.slope_bytes_per_hour = slope_mib_per_hour * kMiB;
  f.r2 = r2;
  return f;
}

TEST(ReportTest, ALeakIsSteadyGrowthOfAMebibyteAnHourOverHalfAnHour) {
  EXPECT_TRUE(IsLeaking(Fit(1, 2)));
  EXPECT_TRUE(IsLeaking(Fit(1, 1)));
  EXPECT_FALSE(IsLeaking(Fit(1, 0.9)));               // too slow
  EXPECT_FALSE(IsLeaking(Fit(1, 5, 60, 3600, 0.3)));  // noise, not a line
  EXPECT_FALSE(IsLeaking(Fit(1, 5, 4)));              // too few samples
  EXPECT_FALSE(IsLeaking(Fit(1, 5, 60, 1200)));       // too short
  EXPECT_FALSE(IsLeaking(Fit(1, 5, 60, 3600, std::nullopt)));
  EXPECT_FALSE(IsLeaking(Fit(1, -5)));
}

TEST(ReportTest, TheTrendIsTheMedianSlopeOfTheSlicesWithEnoughData) {
  EXPECT_EQ(IdleTrend({}), "unknown");
  EXPECT_EQ(IdleTrend({Fit(1, 50, 2)}), "unknown");  // 2 samples judge nothing
  EXPECT_EQ(IdleTrend({Fit(1, 3), Fit(2, 0), Fit(3, 0.2)}), "stable");
  EXPECT_EQ(IdleTrend({Fit(1, 3), Fit(2, 1.5), Fit(3, 0.2)}), "creeping");
  EXPECT_EQ(IdleTrend({Fit(1, -3), Fit(2, -1.5)}), "shrinking");
  // One leaking slice among quiet ones does not make the fleet creep.
  EXPECT_EQ(IdleTrend({Fit(1, 40), Fit(2, 0), Fit(3, 0), Fit(4, 40, 2)}), "stable");
}

TEST(ReportTest, ThrashingStartsAtTheLowestSwapUseWhoseAverageReachesTheThreshold) {
  std::vector<SwapBucket> buckets = {
      {0, 10, 5, 20}, {30, 10, 300, 900}, {60, 10, 2500, 4000}, {70, 10, 900, 1200}};
  EXPECT_EQ(ThrashingFromPercent(buckets, 1000), 60);
  EXPECT_EQ(ThrashingFromPercent(buckets, 250), 30);
  EXPECT_EQ(ThrashingFromPercent(buckets, 5000), std::nullopt);
  EXPECT_EQ(ThrashingFromPercent({}, 1000), std::nullopt);
}

TEST(ReportTest, StressBeginsAtTheFewestSlicesWithAQuarterOfTheSamplesStressed) {
  EXPECT_EQ(StressBeganAt({{10, 100, 0}, {20, 100, 24}, {30, 100, 25}, {40, 10, 10}}), 30);
  EXPECT_EQ(StressBeganAt({{10, 100, 1}, {20, 100, 2}}), std::nullopt);
  EXPECT_EQ(StressBeganAt({{10, 0, 0}, {15, 4, 1}}), 15);
  EXPECT_EQ(StressBeganAt({}), std::nullopt);
}

}  // namespace
}  // namespace crm::monitor
