// Swap as a resource (--swap) and the scale triggers (docs/capacity-model.md).
#include "crm/planner/plan.hpp"

#include <gtest/gtest.h>

#include <string>

#include "crm/error.hpp"
#include "crm/planner/capacity.hpp"
#include "crm/planner/catalog.hpp"
#include "crm/planner/workload.hpp"
#include "plan_lookup.hpp"

namespace crm::planner {
namespace {

const Catalog& Cat() {
  return Catalog::Embedded();
}

Plan PlanOf(Workload w) {
  ValidateWorkload(w, Cat());
  return MakePlan(w, Cat(), PlanOptions{});
}

const ResourceCapacity* Resource(const Capacity& cap, const std::string& name) {
  for (const ResourceCapacity& r : cap.resources) {
    if (r.resource == name) {
      return &r;
    }
  }
  return nullptr;
}

Workload Webjs(long long customers, long long devices) {
  Workload w;
  w.customers = customers;
  w.devices_per_customer = devices;
  w.engine = "webjs";
  return w;
}

TEST(SwapCatalogTest, CarriesTheMeasuredServerAndTheIdleChromiumSlice) {
  const Server& vps5 = *Cat().FindServer("ovh-vps-5");
  EXPECT_DOUBLE_EQ(vps5.ram_bytes, 61e9);
  EXPECT_DOUBLE_EQ(vps5.swap_bytes, 31e9);
  EXPECT_DOUBLE_EQ(vps5.disk_bytes, 339e9);
  const Engine& webjs = *Cat().FindEngine("webjs");
  EXPECT_TRUE(webjs.idle_swappable);
  EXPECT_DOUBLE_EQ(webjs.idle_resident.value, 10e6);
  EXPECT_FALSE(webjs.idle_resident.source.empty());
  EXPECT_FALSE(Cat().FindEngine("whatsmeow")->idle_swappable);
  EXPECT_DOUBLE_EQ(Cat().rules().idle_share.value, 0.8);
  EXPECT_DOUBLE_EQ(Cat().rules().swapin_alert_pages_per_s.value, 1000);
}

// docs/capacity-model.md "Swap": one device per customer, so customers = slices.
TEST(SwapCapacityTest, OvhVps5HoldsTheSourcesBandOfChromiumSlices) {
  Workload w = Webjs(1, 1);
  const Capacity without = ComputeCapacity("ovh-vps-5", w, Cat());
  // (0.7 × 61 GB − 2 GB) ÷ 453.16 MB = 89.
  EXPECT_EQ(without.comfortable_customers, 89);
  EXPECT_EQ(Resource(without, "RAM + swap"), nullptr);

  w.swap = true;
  const Capacity cap = ComputeCapacity("ovh-vps-5", w, Cat());
  const ResourceCapacity* ram = Resource(cap, "RAM");
  ASSERT_NE(ram, nullptr);
  // 453.16 MB − 0.8 × (450 MB − 10 MB) = 101.16 MB per slice in RAM.
  EXPECT_NEAR(ram->per_customer, 101.16e6, 1);
  EXPECT_EQ(ram->comfortable_customers, 402);  // (42.7 GB − 2 GB) ÷ 101.16 MB
  const ResourceCapacity* total = Resource(cap, "RAM + swap");
  ASSERT_NE(total, nullptr);
  EXPECT_DOUBLE_EQ(total->capacity, 92e9);
  // (0.7 × 92 GB − 2 GB) ÷ 453.16 MB = 137.7; at 100 %: 90 GB ÷ 453.16 MB = 198.6.
  EXPECT_EQ(cap.comfortable_customers, 137);
  EXPECT_EQ(cap.max_customers, 198);
  EXPECT_EQ(cap.binding_resource, "RAM + swap");
  ASSERT_FALSE(cap.notes.empty());
  EXPECT_NE(cap.notes.back().find("overcommitment"), std::string::npos);
  EXPECT_NE(cap.notes.back().find("swap-in rate"), std::string::npos);
  EXPECT_NE(cap.notes.back().find("1,000 pages/s"), std::string::npos);
}

TEST(SwapCapacityTest, NeverHoldsFewerThanWithoutSwap) {
  for (const Server& s : Cat().servers()) {
    if (s.kind != ServerKind::kVm) {
      continue;
    }
    Workload w = Webjs(1, 1);
    const long long without = ComputeCapacity(s.name, w, Cat()).comfortable_customers;
    w.swap = true;
    EXPECT_GE(ComputeCapacity(s.name, w, Cat()).comfortable_customers, without) << s.name;
  }
}

// 34 customers × 4 webjs devices = 136 Chromium slices.
TEST(SwapPlanTest, OneHundredThirtySixSlicesFitOneOvhVps5) {
  Workload w = Webjs(34, 4);
  const Plan without = PlanOf(w);
  EXPECT_GT(without.monthly_usd, 40.40);

  w.swap = true;
  const Plan p = PlanOf(w);
  EXPECT_EQ(p.tier->id, 2);
  ASSERT_EQ(p.layout.size(), 1U);
  EXPECT_EQ(p.layout[0].count, 1);
  EXPECT_EQ(p.layout[0].server->name, "ovh-vps-5");
  EXPECT_DOUBLE_EQ(p.monthly_usd, 40.40);
  // 34 × (4 × 450 MB + 2 × 80 KB + 3 MB) + 2 GB = 63.307 GB; RAM keeps 0.7 × 61 GB, the rest
  // (20.607 GB) is in swap: under the 0.8 × 34 × 4 × 440 MB = 47.9 GB idle slices can push out.
  const double total = 34 * (4 * 450e6 + 2 * 80e3 + 3e6) + 2e9;
  EXPECT_NEAR(p.layout[0].swap_demand, total - 0.7 * 61e9, 1e3);
  EXPECT_NEAR(p.layout[0].ram_util, 0.7, 1e-9);
  EXPECT_NEAR(p.utilization.swap, (total - 0.7 * 61e9) / 31e9, 1e-9);
  EXPECT_NEAR(p.demand.swapped_ram, total - 0.7 * 61e9, 1e3);
  EXPECT_NE(p.zone, Zone::kRed);
  EXPECT_TRUE(HasWarning(p, "overcommitment (--swap)"));
  EXPECT_TRUE(HasWarning(p, "1,000 pages/s"));
}

TEST(SwapPlanTest, LightLoadPushesNothingOut) {
  Workload w = Webjs(10, 1);
  w.swap = true;
  const Plan p = PlanOf(w);
  EXPECT_DOUBLE_EQ(p.demand.swapped_ram, 0);
  EXPECT_DOUBLE_EQ(p.utilization.swap, 0);
}

TEST(SwapPlanTest, EnginesWithoutAnIdleResidentSizeAreUnchanged) {
  Workload w;
  w.customers = 50;
  const Plan without = PlanOf(w);
  w.swap = true;
  const Plan p = PlanOf(w);
  EXPECT_DOUBLE_EQ(p.monthly_usd, without.monthly_usd);
  EXPECT_DOUBLE_EQ(p.utilization.ram, without.utilization.ram);
  EXPECT_TRUE(HasWarning(p, "whatsmeow has no idle resident size"));
}

TEST(SwapPlanTest, IdleShareZeroCountsEverySliceInRam) {
  Workload w = Webjs(34, 4);
  const Plan without = PlanOf(w);
  w.swap = true;
  w.idle_share = 0;
  const Plan p = PlanOf(w);
  EXPECT_DOUBLE_EQ(p.monthly_usd, without.monthly_usd);
  EXPECT_DOUBLE_EQ(p.demand.swapped_ram, 0);
}

TEST(SwapWorkloadTest, KeysParseAndRangeCheck) {
  Workload w;
  SetWorkloadField(w, "swap", "true");
  SetWorkloadField(w, "idle_share", "0.5");
  EXPECT_TRUE(w.swap);
  ASSERT_TRUE(w.idle_share.has_value());
  EXPECT_DOUBLE_EQ(*w.idle_share, 0.5);
  EXPECT_THROW(SetWorkloadField(w, "idle_share", "1.5"), InputError);
  EXPECT_THROW(SetWorkloadField(w, "swap", "maybe"), InputError);
}

// docs/capacity-model.md "Scale triggers": 5 customers × 100 messages × 365 days × 1 KB =
// 182.5 MB of messages on the single host; 400 MB ÷ 36.5 MB = 10.96 customers: 11 customers hold
// 401.5 MB, the first count past it (10 hold 365 MB), crossed in month 5 at 20 %/month
// (5 × 1.2⁵ = 12.4).
TEST(ScaleTriggerTest, DatabaseOnTheAppHostFiresFirst) {
  Workload w;
  w.customers = 5;
  w.growth_per_month = 0.2;
  const Plan p = PlanOf(w);
  EXPECT_NE(p.growth.first_trigger.find("database > 400 MB"), std::string::npos);
  EXPECT_DOUBLE_EQ(p.growth.first_trigger_customers, 11);
  ASSERT_TRUE(p.growth.first_trigger_month.has_value());
  EXPECT_EQ(*p.growth.first_trigger_month, 5);
}

TEST(ScaleTriggerTest, SplitTiersTriggerOnHostLoad) {
  Workload w;
  w.customers = 500;
  const Plan p = PlanOf(w);
  EXPECT_EQ(p.growth.first_trigger.find("database"), std::string::npos);
  EXPECT_GT(p.growth.first_trigger_customers, 500);
  EXPECT_FALSE(p.growth.first_trigger_month.has_value());  // no growth: never crossed
}

}  // namespace
}  // namespace crm::planner
