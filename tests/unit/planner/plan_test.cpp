#include "crm/planner/plan.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "crm/error.hpp"
#include "crm/planner/capacity.hpp"
#include "crm/planner/catalog.hpp"
#include "plan_lookup.hpp"

namespace crm::planner {
namespace {

constexpr double kGiB = 1024.0 * 1024 * 1024;

class PlanTest : public ::testing::Test {
 protected:
  Plan PlanFor(long long customers, void (*tweak)(Workload&) = nullptr) {
    Workload w;
    w.customers = customers;
    if (tweak != nullptr) {
      tweak(w);
    }
    ValidateWorkload(w, catalog_);
    return MakePlan(w, catalog_, PlanOptions{.explain = true});
  }
  double Pg(const Plan& p, const std::string& name) {
    for (const auto& [k, v] : p.postgres) {
      if (k == name) {
        return v;
      }
    }
    ADD_FAILURE() << "no setting " << name;
    return -1;
  }
  const Catalog& catalog_ = Catalog::Embedded();
};

// The worked example of docs/capacity-model.md, figure by figure.
TEST_F(PlanTest, FiveCustomersAgreeWithHandArithmetic) {
  const Plan p = PlanFor(5);
  EXPECT_DOUBLE_EQ(p.demand.sessions_ram, 5 * 2 * 2e6);
  EXPECT_DOUBLE_EQ(p.demand.websockets_ram, 5 * 2 * 80e3);
  EXPECT_DOUBLE_EQ(p.demand.queue_ram, 0);
  EXPECT_DOUBLE_EQ(p.demand.buffers_ram, 5 * 3e6);
  EXPECT_DOUBLE_EQ(p.demand.services_ram, 2e9);
  EXPECT_DOUBLE_EQ(p.demand.total_ram, 20e6 + 0.8e6 + 15e6 + 2e9);
  EXPECT_DOUBLE_EQ(p.demand.messages_per_day, 500);
  EXPECT_DOUBLE_EQ(p.demand.messages_disk, 500.0 * 365 * 1000);
  EXPECT_DOUBLE_EQ(p.demand.total_disk, 182.5e6 * 1.3 + 15e9);
  EXPECT_NEAR(p.demand.peak_messages_per_second, 500.0 / 86400 * 10, 1e-12);
  EXPECT_NEAR(p.demand.cpu_cores, 0.5 + 500.0 / 86400 * 10 * 0.004 + 10 * 0.001, 1e-12);
  ASSERT_EQ(p.tier->id, 1);
  ASSERT_EQ(p.layout.size(), 1U);
  // The catalog's cheapest 2 vCPU / 4 GiB server (the reference do-basic-4gb costs $24).
  EXPECT_EQ(p.layout[0].server->name, "hetzner-cx22");
  EXPECT_DOUBLE_EQ(p.monthly_usd, 4.59);
  ASSERT_NE(p.layout[0].runner_up, nullptr);
  EXPECT_EQ(p.layout[0].runner_up->name, "contabo-vps-s");
  EXPECT_DOUBLE_EQ(p.layout[0].runner_up_usd, 6.99);
  EXPECT_NEAR(p.utilization.ram, 2.0358e9 / (4 * kGiB), 1e-9);
  EXPECT_EQ(p.zone, Zone::kGreen);
  // One 4 GiB host: the source's pool of 10 on a small server (rules db_pool_*).
  EXPECT_EQ(p.demand.db_connections, 10 + 5 * 2);
  EXPECT_EQ(KnobNumber(p, "DB_MAX_OPEN_CONNS"), 10);
  EXPECT_EQ(KnobNumber(p, "WORKER_CONCURRENCY"), 20);
  EXPECT_EQ(KnobNumber(p, "QUEUE_MAX_DEPTH"), 50'000);
  EXPECT_EQ(KnobNumber(p, "PHONE_RPS"), 250);
  EXPECT_DOUBLE_EQ(Pg(p, "max_connections"), 30);
  EXPECT_DOUBLE_EQ(Pg(p, "shared_buffers"), 1 * kGiB);
  EXPECT_DOUBLE_EQ(Pg(p, "effective_cache_size"), 3 * kGiB);
  EXPECT_DOUBLE_EQ(Pg(p, "maintenance_work_mem"), 256 * 1024 * 1024);
  EXPECT_DOUBLE_EQ(Pg(p, "work_mem"), std::floor(3 * kGiB / ((30 + 2) * 3) / 1024) * 1024);
  EXPECT_DOUBLE_EQ(Pg(p, "wal_buffers"), 16 * 1024 * 1024);
  EXPECT_DOUBLE_EQ(Pg(p, "random_page_cost"), 1.1);
  EXPECT_DOUBLE_EQ(Pg(p, "effective_io_concurrency"), 200);
  // Only the note that the published $13–25 prices the reference server.
  ASSERT_EQ(p.warnings.size(), 1U);
  EXPECT_NE(p.warnings[0].find("below tier 1's published $13.00–$25.00"), std::string::npos)
      << p.warnings[0];
  EXPECT_FALSE(p.explain.empty());
}

TEST_F(PlanTest, EachTierServesItsEnvelope) {
  EXPECT_EQ(PlanFor(10).tier->id, 1);
  EXPECT_EQ(PlanFor(11).tier->id, 2);
  EXPECT_EQ(PlanFor(100).tier->id, 2);
  EXPECT_EQ(PlanFor(300).tier->id, 3);
  EXPECT_EQ(PlanFor(1000).tier->id, 4);
  EXPECT_EQ(PlanFor(3000).tier->id, 5);
  for (long long c : {1LL, 10LL, 50LL, 300LL, 1000LL, 3000LL, 20000LL}) {
    const Plan p = PlanFor(c);
    EXPECT_LE(p.utilization.Max(), 0.70 + 1e-9) << c;
    EXPECT_NE(p.zone, Zone::kRed) << c;
  }
}

TEST_F(PlanTest, MessagesPerDayCanPushToALargerTier) {
  const Plan p = PlanFor(5, [](Workload& w) { w.messages_per_customer_day = 10'000; });
  EXPECT_EQ(p.tier->id, 2);
  ASSERT_FALSE(p.warnings.empty());
  EXPECT_NE(p.warnings[0].find("outside every tier's envelope"), std::string::npos);
}

TEST_F(PlanTest, HaForcesTheHaTopologyAndSaysSo) {
  const Plan p = PlanFor(50, [](Workload& w) { w.ha = true; });
  EXPECT_EQ(p.tier->id, 4);
  int app_hosts = 0;
  bool replica = false;
  for (const LayoutRow& row : p.layout) {
    app_hosts += row.spec->role == "app" ? row.count : 0;
    replica = replica || row.spec->role == "postgres-replica";
  }
  EXPECT_GE(app_hosts, 2);
  EXPECT_TRUE(replica);
  ASSERT_FALSE(p.warnings.empty());
  EXPECT_NE(p.warnings[0].find("--ha requires tier 4"), std::string::npos) << p.warnings[0];
}

TEST_F(PlanTest, RegionsForceKubernetesAndMultiplyTheLayout) {
  const Plan one = PlanFor(3000);
  const Plan two = PlanFor(3000, [](Workload& w) { w.regions = 2; });
  EXPECT_EQ(two.tier->id, 5);
  EXPECT_EQ(two.layout[0].count, 2 * one.layout[0].count);  // a control plane per region
  EXPECT_GT(two.monthly_usd, one.monthly_usd);
}

TEST_F(PlanTest, WebjsNeedsBigHostsAndSetsTheSliceLimit) {
  const Plan p = PlanFor(10, [](Workload& w) { w.engine = "webjs"; });
  EXPECT_DOUBLE_EQ(p.demand.sessions_ram, 10 * 2 * 450e6);
  EXPECT_EQ(p.tier->id, 1);
  EXPECT_GE(p.layout[0].server->ram_bytes, 9e9 / 0.7);
  // The cheapest server of any provider with (9 GB + 2 GB services) ÷ 0.7 of RAM: 16 GiB.
  EXPECT_EQ(p.layout[0].server->name, "hetzner-cx42");
  // engines.yaml: a Chromium slice is limited to 512 MB and half a core per device (the source's
  // limits), above its steady 8 MB + 2 × 450 MB + 3 MB; its session files take 13 MB a device.
  EXPECT_EQ(KnobNumber(p, "SLICE_MEMORY_LIMIT"), 1'024'000'000);
  bool cpu_limit = false;
  for (const auto& [name, value] : p.knobs) {
    if (name == "CRM_SLICE_CPU_LIMIT") {
      cpu_limit = std::get<std::string>(value) == "1";
    }
  }
  EXPECT_TRUE(cpu_limit);
  EXPECT_DOUBLE_EQ(p.demand.sessions_disk, 10 * 2 * 13e6);
  for (const std::string& w : p.warnings) {
    EXPECT_EQ(w.find("SLICE_MEMORY_LIMIT"), std::string::npos) << w;
  }
  // Whatsmeow states no limit: computed from the footprint with headroom, no CPU limit.
  const Plan light = PlanFor(10);
  EXPECT_EQ(KnobNumber(light, "SLICE_MEMORY_LIMIT"), 23'000'000);  // ⌈(8 + 2 × 2 + 3) MB × 1.5⌉
  EXPECT_DOUBLE_EQ(light.demand.sessions_disk, 0);
}

TEST_F(PlanTest, ScalableRolesAddHosts) {
  const Plan p = PlanFor(2000, [](Workload& w) { w.engine = "webjs"; });
  EXPECT_EQ(p.tier->id, 4);
  for (const LayoutRow& row : p.layout) {
    if (row.spec->role == "slice") {
      EXPECT_GT(row.count, 2);
      EXPECT_LE(row.ram_util, 0.70 + 1e-9);
    }
  }
}

TEST_F(PlanTest, ShardRangesSplitSliceHostsEvenly) {
  const Plan p = PlanFor(1000);
  for (const auto& [k, v] : p.knobs) {
    if (k == "WORKER_SHARD_RANGE") {
      EXPECT_EQ(std::get<std::string>(v), "0-50,50-100");
      return;
    }
  }
  FAIL() << "no WORKER_SHARD_RANGE";
}

TEST_F(PlanTest, MoreSliceHostPodsThanTheHashSpaceHasBucketsIsAWarning) {
  const auto warned = [](const Plan& p) {
    for (const std::string& w : p.warnings) {
      if (w.find("ranges of the tenant hash space") != std::string::npos) {
        return true;
      }
    }
    return false;
  };
  // 3,000 webjs customers: 902 pods, each its own range in hundredths of a percent.
  EXPECT_FALSE(warned(PlanFor(3000, [](Workload& w) { w.engine = "webjs"; })));
  EXPECT_TRUE(warned(PlanFor(40'000, [](Workload& w) { w.engine = "webjs"; })));
  EXPECT_FALSE(warned(PlanFor(40'000, [](Workload& w) {
    w.engine = "webjs";
    w.regions = 2;
  })));
}

TEST_F(PlanTest, OnOneHostTheSlicesPoolerHoldsOneBackendPerSliceNotAllTheirConnections) {
  // min(5 slices × 2, max(10, 4 × 2 cores, 5)).
  EXPECT_EQ(KnobNumber(PlanFor(5), "SLICE_POOL_SIZE"), 10);
  const Plan p = PlanFor(50);
  ASSERT_EQ(p.layout.size(), 1U);
  const auto cores = static_cast<long long>(p.layout[0].server->vcpu);
  const long long pool = KnobNumber(p, "SLICE_POOL_SIZE");
  // At least one backend per slice: the pooler's pools are per login, and slices active at once
  // with fewer would take each other's backends, each time a new one.
  EXPECT_EQ(pool, std::max({10LL, 4 * cores, 50LL}));
  EXPECT_LT(pool, 50 * 2) << "fewer than unpooled";
  EXPECT_EQ(p.demand.db_connections, KnobNumber(p, "DB_MAX_OPEN_CONNS") + pool);
  EXPECT_DOUBLE_EQ(Pg(p, "max_connections"), static_cast<double>(p.demand.db_connections + 10));
  // Behind a pooler in front of the database (tier 3 and up) the slices use that one.
  EXPECT_EQ(FindKnob(PlanFor(1000), "SLICE_POOL_SIZE"), nullptr);
}

TEST_F(PlanTest, PgBouncerPoolsRespectTheConnectionBudget) {
  const Plan p = PlanFor(1000);
  const long long pools = KnobNumber(p, "PGBOUNCER_NUM_POOLS");
  const long long size = KnobNumber(p, "PGBOUNCER_DEFAULT_POOL_SIZE");
  const long long max_db = KnobNumber(p, "PGBOUNCER_MAX_DB_CONNECTIONS");
  EXPECT_LE(pools * size, max_db);
  EXPECT_LE(max_db, static_cast<long long>(Pg(p, "max_connections")) - 10);
  EXPECT_EQ(KnobNumber(p, "DB_MAX_OPEN_CONNS"), 120);
  EXPECT_EQ(KnobNumber(p, "WORKER_CONCURRENCY"), 200);
}

TEST_F(PlanTest, QueueBacklogRaisesDepthAndWarnsAboutDurationAndMetaLimits) {
  const Plan p = PlanFor(50, [](Workload& w) { w.peak_pending_tasks = 100'000; });
  EXPECT_DOUBLE_EQ(p.demand.queue_ram, 100'000 * 10.0);
  EXPECT_EQ(KnobNumber(p, "QUEUE_MAX_DEPTH"), 100'000);
  std::string all;
  for (const std::string& w : p.warnings) {
    all += w + "\n";
  }
  // 100,000 ÷ (2 devices × 250 msg/s) = 200 s.
  EXPECT_NE(all.find("takes 3.3 min"), std::string::npos) << all;
  EXPECT_NE(all.find("needs the 100,000 business tier"), std::string::npos) << all;
}

TEST_F(PlanTest, GrowthCountsMonthsUntilTheEnvelopeIsCrossed) {
  const Plan p = PlanFor(5, [](Workload& w) { w.growth_per_month = 0.2; });
  // 5 × 1.2^m > 10 first at m = 4 (1.2^3 = 1.73, 1.2^4 = 2.07).
  ASSERT_TRUE(p.growth.months_until_upgrade.has_value());
  EXPECT_EQ(*p.growth.months_until_upgrade, 4);
  ASSERT_EQ(p.growth.projection.size(), 13U);
  EXPECT_EQ(p.growth.projection[12].customers, std::llround(5 * std::pow(1.2, 12)));
  const Plan flat = PlanFor(5);
  EXPECT_FALSE(flat.growth.months_until_upgrade.has_value());
}

TEST_F(PlanTest, RevenueAndBreakEven) {
  const Plan p = PlanFor(50, [](Workload& w) { w.price_per_customer_month = 29; });
  ASSERT_TRUE(p.revenue.has_value());
  EXPECT_DOUBLE_EQ(p.revenue->mrr_usd, 1450);
  EXPECT_DOUBLE_EQ(p.revenue->margin_usd, 1450 - p.monthly_usd);
  EXPECT_EQ(p.revenue->break_even_customers, static_cast<long long>(std::ceil(p.monthly_usd / 29)));
  EXPECT_FALSE(PlanFor(50).revenue.has_value());
}

TEST_F(PlanTest, CloudApiHoldsNoSessionMemory) {
  const Plan p = PlanFor(50, [](Workload& w) { w.engine = "cloud-api"; });
  EXPECT_DOUBLE_EQ(p.demand.sessions_ram, 0);
}

TEST_F(PlanTest, AbsurdButValidWorkloadIsPlannedWithoutCrashing) {
  const Plan p = PlanFor(10'000'000, [](Workload& w) {
    w.engine = "webjs";
    w.messages_per_customer_day = 10'000'000;
    w.peak_pending_tasks = 10'000'000'000;
  });
  EXPECT_GE(p.tier->id, 4);  // the least loaded of the large tiers; nothing fits
  EXPECT_EQ(p.zone, Zone::kRed);
  EXPECT_FALSE(p.warnings.empty());
  EXPECT_TRUE(std::isfinite(p.monthly_usd));
}

TEST(CapacityTest, InverseOfTheSingleHostModel) {
  Workload w;
  const Capacity cap = ComputeCapacity("hetzner-cx22", w, Catalog::Embedded());
  // RAM: (4 GiB − 2 GB services) ÷ 7.16 MB per customer (2 × 2 MB + 2 × 80 KB + 3 MB).
  EXPECT_EQ(cap.max_customers, 320);
  EXPECT_EQ(cap.comfortable_customers, 140);
  EXPECT_EQ(cap.max_devices, 640);
  EXPECT_EQ(cap.comfortable_devices, 280);
  EXPECT_EQ(cap.binding_resource, "RAM");
}

TEST(CapacityTest, UnknownAndManagedServersAreInputErrors) {
  Workload w;
  EXPECT_THROW(ComputeCapacity("hetzner-cx99", w, Catalog::Embedded()), InputError);
  EXPECT_THROW(ComputeCapacity("aws-rds-large", w, Catalog::Embedded()), InputError);
}

TEST(CapacityTest, WebjsIsBoundByRamMuchSooner) {
  Workload w;
  w.engine = "webjs";
  const Capacity cap = ComputeCapacity("ovh-vps-5", w, Catalog::Embedded());
  // (0.7 × 61 GB − 2 GB) ÷ (900 MB + 160 KB + 3 MB) = 40.7 GB ÷ 903.16 MB = 45.
  EXPECT_EQ(cap.comfortable_customers, 45);
  EXPECT_EQ(cap.binding_resource, "RAM");
}

}  // namespace
}  // namespace crm::planner
