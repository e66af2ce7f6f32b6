// An engine measured as a whole (the `crmd` engine) replaces rules in the plan: buffer per
// customer, disk per stored message, CPU per message, connections per slice, and reports its base
// RAM apart.
#include <gtest/gtest.h>

#include <string_view>
#include <variant>

#include "crm/error.hpp"
#include "crm/planner/catalog.hpp"
#include "crm/planner/plan.hpp"
#include "crm/planner/report.hpp"
#include "plan_lookup.hpp"

namespace crm::planner {
namespace {

Plan PlanWith(const Catalog& catalog, const std::string& engine, long long customers) {
  Workload w;
  w.customers = customers;
  w.engine = engine;
  w.devices_per_customer = 1;
  ValidateWorkload(w, catalog);
  return MakePlan(w, catalog);
}

TEST(EngineRulesTest, TheCrmdEngineIsMeasuredByTheFidelityBench) {
  const Engine* crmd = Catalog::Embedded().FindEngine("crmd");
  ASSERT_NE(crmd, nullptr);
  EXPECT_TRUE(crmd->has_buffer_per_customer);
  EXPECT_TRUE(crmd->has_disk_per_message);
  EXPECT_TRUE(crmd->has_connections_per_slice);
  EXPECT_TRUE(crmd->has_base_ram);
  EXPECT_TRUE(crmd->has_idle_per_customer);
  EXPECT_LT(crmd->idle_per_customer.value, crmd->buffer_per_customer.value);
  for (const Rule* r : {&crmd->ram_per_device, &crmd->buffer_per_customer, &crmd->idle_per_customer,
                        &crmd->disk_per_message, &crmd->connections_per_slice, &crmd->base_ram}) {
    EXPECT_NE(r->source.find("bench/fidelity"), std::string::npos) << r->source;
  }
  // Its CPU per message is measured by the queue bench's conversation messages, and is below the
  // rule's estimate, which stands for engines that hold a WhatsApp Web session.
  EXPECT_TRUE(crmd->has_cpu_per_message);
  EXPECT_NE(crmd->cpu_per_message.source.find("bench/queue"), std::string::npos)
      << crmd->cpu_per_message.source;
  EXPECT_LT(crmd->cpu_per_message.value, Catalog::Embedded().rules().cpu_per_message.value);
  EXPECT_GT(crmd->cpu_per_message.value, 0);
}

TEST(EngineRulesTest, AnEngineStatingItsOwnFiguresReplacesTheRules) {
  Catalog c = Catalog::Embedded();
  c.ApplyOverride(
      "engines: {cloud-api: {buffer_per_customer: {value: 7 MB, source: t}, disk_per_message: "
      "{value: 2 KB, source: t}, connections_per_slice: {value: 3.5, source: t}, base_ram: "
      "{value: 90 MB, source: t}, cpu_per_message: {value: 0.012, source: t}}}\n",
      "o.yaml");
  const Plan with = PlanWith(c, "cloud-api", 2);
  const Plan without = PlanWith(Catalog::Embedded(), "cloud-api", 2);
  EXPECT_DOUBLE_EQ(with.demand.buffers_ram, 2 * 7e6);
  EXPECT_DOUBLE_EQ(without.demand.buffers_ram, 2 * 3e6);
  EXPECT_DOUBLE_EQ(with.demand.messages_disk, 2 * without.demand.messages_disk);
  // 0.012 core-s a message against the rule's 0.004: the peak rate costs 0.008 more per message.
  EXPECT_DOUBLE_EQ(with.demand.peak_messages_per_second, without.demand.peak_messages_per_second);
  EXPECT_NEAR(with.demand.cpu_cores - without.demand.cpu_cores,
              with.demand.peak_messages_per_second * (0.012 - 0.004), 1e-12);
  // Four connections per slice process are counted (3.5 rounded up); each pool stays at 2. Two
  // slices stay under the cap of the host's pooler (SLICE_POOL_SIZE = min(slices × 4, 10)).
  EXPECT_EQ(with.demand.db_connections - without.demand.db_connections, 2 * (4 - 2));
  EXPECT_EQ(KnobNumber(with, "SLICE_POOL_SIZE"), 2 * 4);
  EXPECT_EQ(KnobNumber(with, "SLICE_DB_MAX_OPEN_CONNS"), 2);
  EXPECT_DOUBLE_EQ(with.demand.engine_base_ram, 90e6);
  // The base is part of the services reservation, not added to it.
  EXPECT_DOUBLE_EQ(with.demand.services_ram, without.demand.services_ram);
  EXPECT_EQ(PlanToJson(with)["demand"]["ram_bytes"]["engine_base"], 90e6);
  EXPECT_FALSE(PlanToJson(without)["demand"]["ram_bytes"].contains("engine_base"));
}

TEST(EngineRulesTest, WithSwapTheIdleShareOfTenantsCountsAtTheIdleFigure) {
  Catalog c = Catalog::Embedded();
  c.ApplyOverride(
      "engines: {cloud-api: {buffer_per_customer: {value: 10 MB, source: t}, idle_per_customer: "
      "{value: 2 MB, source: t}}}\n",
      "o.yaml");
  Workload w;
  w.customers = 10;
  w.engine = "cloud-api";
  w.swap = true;
  w.idle_share = 0.75;
  ValidateWorkload(w, c);
  // 10 × (0.75 × 2 MB + 0.25 × 10 MB); nothing of it is in swap.
  const Plan plan = MakePlan(w, c);
  EXPECT_DOUBLE_EQ(plan.demand.buffers_ram, 10 * 4e6);
  EXPECT_DOUBLE_EQ(plan.demand.swapped_ram, 0);
  EXPECT_DOUBLE_EQ(PlanWith(c, "cloud-api", 10).demand.buffers_ram, 10 * 10e6);
}

TEST(EngineRulesTest, EngineFiguresOutsideTheirRangeAreRefused) {
  Catalog c = Catalog::Embedded();
  EXPECT_THROW(c.ApplyOverride("engines: {crmd: {connections_per_slice: {value: 0, source: t}}}\n",
                               "o.yaml"),
               InputError);
  EXPECT_THROW(
      c.ApplyOverride("engines: {crmd: {disk_per_message: {value: 0 B, source: t}}}\n", "o.yaml"),
      InputError);
  EXPECT_THROW(
      c.ApplyOverride("engines: {crmd: {cpu_per_message: {value: 11, source: t}}}\n", "o.yaml"),
      InputError);
  EXPECT_THROW(
      c.ApplyOverride("engines: {crmd: {cpu_per_message: {value: -0.001, source: t}}}\n", "o.yaml"),
      InputError);
}

}  // namespace
}  // namespace crm::planner
