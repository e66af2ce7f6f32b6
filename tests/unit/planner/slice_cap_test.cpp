// The slice cap (rule max_slices_per_host, docs/capacity-model.md "Slice cap"): the runtime's
// CRM_MAX_SLICES, planned — hosts carrying sessions hold at most that many tenants.
#include <gtest/gtest.h>

#include <string>

#include "crm/planner/capacity.hpp"
#include "crm/planner/catalog.hpp"
#include "crm/planner/plan.hpp"
#include "plan_lookup.hpp"

namespace crm::planner {
namespace {

Catalog Capped(int cap) {
  Catalog c = Catalog::Embedded();
  c.ApplyOverride(
      "max_slices_per_host:\n  value: " + std::to_string(cap) + "\n  source: \"test\"\n",
      "cap.yaml");
  return c;
}

// ovh-vps-5 holds 89 webjs customers comfortably by RAM; a cap of 80 (the source's) binds first.
TEST(SliceCapTest, CapacityStopsAtTheCap) {
  Workload w;
  w.customers = 1;
  w.devices_per_customer = 1;
  w.engine = "webjs";
  const Capacity free = ComputeCapacity("ovh-vps-5", w, Catalog::Embedded());
  EXPECT_GT(free.comfortable_customers, 80);
  const Catalog capped = Capped(80);
  const Capacity c = ComputeCapacity("ovh-vps-5", w, capped);
  EXPECT_EQ(c.comfortable_customers, 80);
  EXPECT_EQ(c.max_customers, 80);
  EXPECT_EQ(c.binding_resource, "slice cap");
}

// 100 whatsmeow tenants fit one small host by resources; with 30 per host no single-host tier
// holds them, and the split tier's slice role takes ⌈100 ÷ 30⌉ = 4 hosts.
TEST(SliceCapTest, APlanSpreadsTenantsOverEnoughSliceHosts) {
  Workload w;
  w.customers = 100;
  const Plan free = MakePlan(w, Catalog::Embedded(), {});
  EXPECT_EQ(free.tier->topology, Topology::kSingle);
  EXPECT_EQ(FindKnob(free, "CRM_MAX_SLICES"), nullptr);
  const Catalog capped = Capped(30);
  const Plan p = MakePlan(w, capped, {});
  EXPECT_NE(p.tier->topology, Topology::kSingle);
  int slice_hosts = 0;
  for (const LayoutRow& row : p.layout) {
    if (row.spec->carries & kCarrySessions) {
      slice_hosts += row.count;
    }
  }
  EXPECT_EQ(slice_hosts, 4);
  EXPECT_EQ(KnobNumber(p, "CRM_MAX_SLICES"), 31);  // 30 tenants + the warm slice
  // Growing, the next slice host is due when the four are full: at 120 tenants.
  Workload growing = w;
  growing.growth_per_month = 0.1;
  const Plan g = MakePlan(growing, capped, {});
  EXPECT_EQ(g.growth.upgrade_reason, "the slice hosts reach the slice cap (30 tenants each)");
  ASSERT_TRUE(g.growth.months_until_upgrade.has_value());
  EXPECT_EQ(*g.growth.months_until_upgrade, 2);  // 100 × 1.1² = 121 > 120
}

}  // namespace
}  // namespace crm::planner
