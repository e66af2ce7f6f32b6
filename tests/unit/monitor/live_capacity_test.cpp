// Live capacity's arithmetic: headroom below the target over the measured footprint per slice,
// the binding resource, and the fill projection.
#include "crm/monitor/live_capacity.hpp"

#include <gtest/gtest.h>

namespace crm::monitor {
namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;
constexpr std::uint64_t kGiB = 1024 * kMiB;

CapacityInputs Server() {
  CapacityInputs in;
  in.has_server = true;
  in.ram_total_bytes = 10 * kGiB;
  in.ram_used_bytes = 3 * kGiB;
  in.disk_total_bytes = 100 * kGiB;
  in.disk_used_bytes = 10 * kGiB;
  in.slices_sampled = 10;
  in.memory_mean_bytes = 100.0 * kMiB;
  in.storage_mean_bytes = 10.0 * kMiB;
  return in;
}

TEST(LiveCapacityTest, TheSmallerHeadroomOverItsFootprintBinds) {
  auto cap = ComputeLiveCapacity(Server(), 0.7);
  EXPECT_EQ(cap.ram.more_slices, 40);  // (7 − 3) GiB / 100 MiB = 40.96
  EXPECT_EQ(cap.disk.more_slices, 6144);
  EXPECT_EQ(cap.more_slices, 40);
  EXPECT_EQ(cap.binding, "ram");
  auto in = Server();
  in.storage_mean_bytes = 2.0 * kGiB;  // (70 − 10) GiB / 2 GiB = 30
  cap = ComputeLiveCapacity(in, 0.7);
  EXPECT_EQ(cap.more_slices, 30);
  EXPECT_EQ(cap.binding, "disk");
}

TEST(LiveCapacityTest, AServerAlreadyPastItsTargetHasNoRoomNeverANegativeCount) {
  auto in = Server();
  in.ram_used_bytes = 9 * kGiB;
  auto cap = ComputeLiveCapacity(in, 0.7);
  EXPECT_EQ(cap.more_slices, 0);
}

TEST(LiveCapacityTest, NothingMeasuredProjectsNothing) {
  auto in = Server();
  in.memory_mean_bytes = 0;
  in.storage_mean_bytes = 0;
  in.slices_per_day = 5;
  auto cap = ComputeLiveCapacity(in, 0.7);
  EXPECT_EQ(cap.more_slices, std::nullopt);
  EXPECT_EQ(cap.days_to_fill, std::nullopt);
}

TEST(LiveCapacityTest, OnlyRealGrowthIsProjected) {
  auto in = Server();
  in.slices_per_day = 4;
  in.growth_days = 3;
  EXPECT_DOUBLE_EQ(*ComputeLiveCapacity(in, 0.7).days_to_fill, 10.0);
  in.growth_days = 0.2;  // a fresh deployment filling its warm pool: no trend yet
  EXPECT_EQ(ComputeLiveCapacity(in, 0.7).days_to_fill, std::nullopt);
  in.growth_days = 3;
  in.slices_per_day = 0.1;  // under a slice a week
  EXPECT_EQ(ComputeLiveCapacity(in, 0.7).days_to_fill, std::nullopt);
  in.slices_per_day = -3;
  EXPECT_EQ(ComputeLiveCapacity(in, 0.7).days_to_fill, std::nullopt);
}

}  // namespace
}  // namespace crm::monitor
