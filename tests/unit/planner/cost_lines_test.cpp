// The catalog's reconciled layouts (tier 3's queue store and opt-in replica, tier 4's queue stores
// and PgBouncer host), the cost lines beside the servers (backups, bandwidth), the single-host
// pool rule and growth month by month (docs/capacity-model.md, "Cost lines" and "Scale
// triggers").
#include "crm/planner/plan.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "crm/error.hpp"
#include "crm/planner/catalog.hpp"
#include "crm/planner/report.hpp"
#include "plan_lookup.hpp"

namespace crm::planner {
namespace {

const Catalog& Cat() {
  return Catalog::Embedded();
}

Plan PlanOf(const Workload& w, const Catalog& c = Cat(), PlanOptions options = {}) {
  ValidateWorkload(w, c);
  return MakePlan(w, c, options);
}

Plan ReferencePlan(int tier) {
  PlanOptions options;
  options.only_tier = tier;
  return MakePlan(ReferenceWorkload(*Cat().FindTier(tier)), Cat(), options);
}

const LayoutRow* Row(const Plan& p, const std::string& role) {
  for (const LayoutRow& row : p.layout) {
    if (row.spec->role == role) {
      return &row;
    }
  }
  return nullptr;
}

double Line(const Plan& p, std::string_view item) {
  for (const CostLine& line : p.cost_lines) {
    if (line.item == item) {
      return line.monthly_usd;
    }
  }
  ADD_FAILURE() << "no cost line " << item;
  return -1;
}

// Source: tier 3's queue store is 2 × 4 GB servers.
TEST(ReconciledLayoutTest, TierThreeQueueStoreIsTwoFourGigabyteServers) {
  const Plan p = ReferencePlan(3);
  const LayoutRow* queue = Row(p, "queue-db");
  ASSERT_NE(queue, nullptr);
  EXPECT_EQ(queue->count, 2);
  EXPECT_EQ(queue->server->name, "do-basic-4gb");
  EXPECT_DOUBLE_EQ(queue->server->ram_bytes, 4.0 * (1LL << 30));
  EXPECT_DOUBLE_EQ(queue->monthly_usd, 2 * 24.0);
  // Each holds the whole queue (a primary and its standby): the primary is the first host, as
  // the rendering names them.
  const KnobValue* url = FindKnob(p, "QUEUE_DATABASE_URL");
  ASSERT_NE(url, nullptr);
  EXPECT_EQ(std::get<std::string>(*url), "postgresql://crm@queue-db-1:5432/crm_queue");
  // The catalog search keeps the count: two of the cheapest fitting servers.
  Workload w;
  w.customers = 300;
  const LayoutRow* searched = Row(PlanOf(w), "queue-db");
  ASSERT_NE(searched, nullptr);
  EXPECT_EQ(searched->count, 2);
}

// Source: tier 3 has an optional read replica; it is opt-in and sized like the primary.
TEST(ReconciledLayoutTest, AReplicaAndSeveralRegionsThatNoTierOffersTogetherSayWhoOffersEach) {
  Workload w;
  w.customers = 100;
  w.regions = 2;
  w.replica = true;
  try {
    PlanOf(w);
    FAIL() << "no tier offers both";
  } catch (const crm::InputError& e) {
    EXPECT_EQ(e.field(), "--replica");
    EXPECT_NE(std::string(e.what()).find("2 regions (--regions: tier 5)"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("a read replica (--replica: tier 3, 4)"),
              std::string::npos)
        << e.what();
  }
}

TEST(ReconciledLayoutTest, ReplicaIsOptInAndSizedLikeThePrimary) {
  Workload w;
  w.customers = 300;
  const Plan without = PlanOf(w);
  ASSERT_EQ(without.tier->id, 3);
  EXPECT_EQ(Row(without, "postgres-replica"), nullptr);
  EXPECT_EQ(FindKnob(without, "DB_READ_REPLICA_URL"), nullptr);

  w.replica = true;
  const Plan with = PlanOf(w);
  ASSERT_EQ(with.tier->id, 3);
  const LayoutRow* primary = Row(with, "postgres");
  const LayoutRow* replica = Row(with, "postgres-replica");
  ASSERT_NE(primary, nullptr);
  ASSERT_NE(replica, nullptr);
  EXPECT_EQ(replica->server, primary->server);
  EXPECT_EQ(replica->count, primary->count);
  EXPECT_DOUBLE_EQ(replica->volume_bytes, primary->volume_bytes);
  EXPECT_NEAR(with.monthly_usd, without.monthly_usd + primary->monthly_usd, 1e-9);
  const KnobValue* url = FindKnob(with, "DB_READ_REPLICA_URL");
  ASSERT_NE(url, nullptr);
  EXPECT_EQ(std::get<std::string>(*url), "postgresql://postgres-replica:5432/crm");

  // Below tier 3's envelope the replica still takes tier 3, and the plan says so.
  w.customers = 50;
  const Plan small = PlanOf(w);
  EXPECT_EQ(small.tier->id, 3);
  EXPECT_TRUE(HasWarning(small, "--replica requires tier 3"));
}

// Tier 4's replica takes over when its primary fails (ha: true), so it is sized like the primary,
// never a lighter choice of its own, and the outputs say so instead of offering a runner-up.
TEST(ReconciledLayoutTest, TierFoursReplicaIsSizedLikeItsPrimaryAndSaysSo) {
  for (const long long customers : {600LL, 1000LL, 1900LL}) {
    Workload w;
    w.customers = customers;
    w.messages_per_customer_day = 400;
    const Plan p = PlanOf(w, Cat(), PlanOptions{.explain = true});
    ASSERT_EQ(p.tier->id, 4) << customers;
    const LayoutRow* primary = Row(p, "postgres-primary");
    const LayoutRow* replica = Row(p, "postgres-replica");
    ASSERT_NE(primary, nullptr);
    ASSERT_NE(replica, nullptr);
    EXPECT_EQ(replica->server, primary->server) << customers;
    EXPECT_EQ(replica->count, primary->count) << customers;
    EXPECT_DOUBLE_EQ(replica->volume_bytes, primary->volume_bytes) << customers;
    EXPECT_DOUBLE_EQ(replica->monthly_usd, primary->monthly_usd) << customers;
    EXPECT_NE(primary->runner_up, nullptr) << customers;
    EXPECT_EQ(replica->runner_up, nullptr) << customers;
    // Its own load is lighter (less CPU) on the same server.
    EXPECT_LT(replica->cpu_util, primary->cpu_util) << customers;
    EXPECT_LE(replica->ram_util, primary->ram_util) << customers;

    const std::string table = PlanToTable(p, false);
    const std::size_t row = table.find("\n  postgres-replica ");
    ASSERT_NE(row, std::string::npos) << table;
    EXPECT_NE(table.substr(row, table.find('\n', row + 1) - row).find("as postgres-primary"),
              std::string::npos)
        << table;
    for (const auto& json_row : PlanToJson(p)["layout"]) {
      if (json_row["role"] == "postgres-replica") {
        EXPECT_EQ(json_row["sized_like"], "postgres-primary");
        EXPECT_TRUE(json_row["runner_up"].is_null());
      } else {
        EXPECT_TRUE(json_row["sized_like"].is_null()) << json_row["role"];
      }
    }
    bool explained = false;
    for (const ExplainLine& line : p.explain) {
      explained =
          explained || (line.figure == "postgres-replica host" &&
                        line.arithmetic.find("sized as postgres-primary") != std::string::npos);
    }
    EXPECT_TRUE(explained) << customers;
  }
}

// Source: tier 4 runs two queue stores and PgBouncer on a host of its own.
TEST(ReconciledLayoutTest, TierFourHasTwoQueueStoresAndAPgBouncerHost) {
  const Plan p = ReferencePlan(4);
  const LayoutRow* queue = Row(p, "queue-db");
  const LayoutRow* pgbouncer = Row(p, "pgbouncer");
  ASSERT_NE(queue, nullptr);
  ASSERT_NE(pgbouncer, nullptr);
  EXPECT_EQ(queue->count, 2);
  EXPECT_EQ(pgbouncer->count, 1);
  EXPECT_EQ(pgbouncer->spec->carries, 0U);
  EXPECT_EQ(pgbouncer->server->name, "do-basic-2gb");
  int servers = 0;
  for (const LayoutRow& row : p.layout) {
    servers += row.count;
  }
  EXPECT_EQ(servers, 11);  // the published 9, a second queue store, a PgBouncer host
}

// Backups: off-host on tiers 3-5 by default (+$5 per deployment), a local copy on tiers 1-2
// unless the workload asks.
TEST(CostLinesTest, OffHostBackupsAddTheRuleOncePerDeployment) {
  Workload w;
  w.customers = 5;
  const Plan local = PlanOf(w);
  ASSERT_EQ(local.tier->id, 1);
  EXPECT_FALSE(local.off_host_backups);
  EXPECT_DOUBLE_EQ(Line(local, "backups"), 0);
  EXPECT_NE(local.cost_lines[1].note.find("backups: off-host adds $5.00"), std::string::npos);

  w.backups = "off-host";
  const Plan off_host = PlanOf(w);
  EXPECT_TRUE(off_host.off_host_backups);
  EXPECT_DOUBLE_EQ(Line(off_host, "backups"), 5);
  EXPECT_NEAR(off_host.monthly_usd, local.monthly_usd + 5, 1e-9);

  const Plan t3 = ReferencePlan(3);
  EXPECT_TRUE(t3.off_host_backups);
  EXPECT_DOUBLE_EQ(Line(t3, "backups"), 5);
  EXPECT_EQ(PlanToJson(t3)["cost"]["backups"], "off-host");
  double sum = 0;
  for (const CostLine& line : t3.cost_lines) {
    sum += line.monthly_usd;
  }
  EXPECT_NEAR(sum, t3.monthly_usd, 1e-9);
}

// Bandwidth: egress = messages/day × 365/12 × (4 KB + 10 KB media); beyond what the egressing
// servers include, at their provider's price per TB.
TEST(CostLinesTest, BandwidthBeyondTheIncludedTransferIsPricedPerProvider) {
  Workload w;
  w.customers = 1000;
  const Plan typical = PlanOf(w);
  EXPECT_NEAR(typical.egress_bytes_month, 100'000 * (365.0 / 12) * 14e3, 1);
  EXPECT_DOUBLE_EQ(Line(typical, "bandwidth"), 0);  // 42.6 GB: far inside 5-20 TB per server

  // Heavy media (100 MB per message averaged) on Hetzner: 20 TB included per server, $1.20/TB.
  Catalog heavy = Cat();
  heavy.ApplyOverride("media_egress_per_message: {value: 100 MB, source: test}\n", "test.yaml");
  Workload media;
  media.customers = 5;
  media.messages_per_customer_day = 2000;
  PlanOptions hetzner;
  hetzner.providers = {"hetzner"};
  const Plan p = PlanOf(media, heavy, hetzner);
  ASSERT_EQ(p.layout.size(), 1U);
  ASSERT_EQ(p.layout[0].count, 1);
  const double egress = 10'000 * (365.0 / 12) * (4e3 + 100e6);
  EXPECT_NEAR(p.egress_bytes_month, egress, 1);
  EXPECT_DOUBLE_EQ(p.transfer_included_bytes, 20e12);
  EXPECT_NEAR(Line(p, "bandwidth"), (egress - 20e12) / 1e12 * 1.20, 1e-9);  // ≈ $12.50
  EXPECT_NEAR(p.monthly_usd, Line(p, "servers") + Line(p, "bandwidth"), 1e-9);

  // OVH's VPS traffic is unmetered: the source's 80 Chromium slices pay nothing for it.
  Workload webjs;
  webjs.customers = 80;
  webjs.devices_per_customer = 1;
  webjs.engine = "webjs";
  const Plan ovh = PlanOf(webjs, heavy);
  EXPECT_EQ(ovh.layout[0].server->name, "ovh-vps-5");
  EXPECT_DOUBLE_EQ(Line(ovh, "bandwidth"), 0);
}

// Source: connection pools of 10-20 on small servers.
TEST(PoolRuleTest, SingleHostPoolFollowsTheServersRam) {
  auto pool = [](const Plan& p) { return std::get<long long>(*FindKnob(p, "DB_MAX_OPEN_CONNS")); };
  Workload w;
  w.customers = 5;
  const Plan four = PlanOf(w);  // hetzner-cx22, 4 GiB
  ASSERT_DOUBLE_EQ(four.layout[0].server->ram_bytes, 4.0 * (1LL << 30));
  EXPECT_EQ(pool(four), 10);
  PlanOptions do_only;
  do_only.providers = {"do"};
  const Plan two = PlanOf(w, Cat(), do_only);  // do-basic-2gb: below 4 GB stays at 10
  ASSERT_DOUBLE_EQ(two.layout[0].server->ram_bytes, 2.0 * (1LL << 30));
  EXPECT_EQ(pool(two), 10);
  const Plan eight = ReferencePlan(2);  // do-premium-8gb: 10 × 8 GiB ÷ 4 GiB
  ASSERT_DOUBLE_EQ(eight.layout[0].server->ram_bytes, 8.0 * (1LL << 30));
  EXPECT_EQ(pool(eight), 20);
  Workload webjs;
  webjs.customers = 80;
  webjs.devices_per_customer = 1;
  webjs.engine = "webjs";
  EXPECT_EQ(pool(PlanOf(webjs)), 20);  // 61 GB: capped at 20
  // Split tiers keep their published floors and the workers' share.
  EXPECT_EQ(pool(ReferencePlan(3)), 80);
  EXPECT_EQ(pool(ReferencePlan(4)), 120);
}

// Each tier's reference workload, on its published servers, with the new roles and lines: still
// inside the published range (tier 5's is explained in its warnings, SourceDeploymentTest).
TEST(CostLinesTest, ReferenceWorkloadsStayInsideThePublishedRanges) {
  struct Expected {
    int tier;
    double servers;
    double backups;
  };
  // tier 1: contabo-vps-4gb; tier 2: do-premium-8gb; tier 3: app 48 + slice 48 + postgres 96 +
  // 2 × 24 queue; tier 4: lb 24 + 2 × 56 app + 2 × 96 slice + 2 × 192 PostgreSQL + 2 × 56 queue
  // + 12 PgBouncer + 56 monitoring.
  for (const Expected& e :
       {Expected{1, 13, 0}, Expected{2, 56, 0}, Expected{3, 240, 5}, Expected{4, 892, 5}}) {
    const Plan p = ReferencePlan(e.tier);
    EXPECT_DOUBLE_EQ(Line(p, "servers"), e.servers) << "tier " << e.tier;
    EXPECT_DOUBLE_EQ(Line(p, "backups"), e.backups) << "tier " << e.tier;
    EXPECT_DOUBLE_EQ(Line(p, "bandwidth"), 0) << "tier " << e.tier;
    EXPECT_DOUBLE_EQ(p.monthly_usd, e.servers + e.backups) << "tier " << e.tier;
    EXPECT_GE(p.monthly_usd, p.tier->published_min_usd) << "tier " << e.tier;
    EXPECT_LE(p.monthly_usd, p.tier->published_max_usd) << "tier " << e.tier;
  }
}

// --growth: each month names the tier it needs and the triggers crossed; p95 is said once.
TEST(GrowthTriggersTest, ProjectionNamesTheTierAndTheTriggersMonthByMonth) {
  Workload w;
  w.customers = 5;
  w.growth_per_month = 0.2;
  PlanOptions options;
  options.projection_tiers = true;
  const Plan p = PlanOf(w, Cat(), options);
  ASSERT_EQ(p.growth.projection.size(), 13U);
  EXPECT_EQ(p.growth.projection[0].tier, 1);
  // 5 × 1.2^m: 9.0 customers in month 3, 10.4 in month 4: past tier 1's envelope (10), as the
  // months until upgrade say.
  EXPECT_EQ(p.growth.projection[3].customers, 9);
  EXPECT_EQ(p.growth.projection[3].tier, 1);
  EXPECT_EQ(p.growth.projection[4].customers, 10);
  EXPECT_EQ(p.growth.projection[4].tier, 2);
  EXPECT_EQ(p.growth.months_until_upgrade, 4);
  EXPECT_EQ(p.growth.projection[5].tier, 2);
  EXPECT_EQ(p.growth.projection[6].customers, 15);
  EXPECT_EQ(p.growth.projection[6].tier, 2);
  // 400 MB ÷ (100 × 365 × 1 KB) = 10.96 customers: crossed in month 5 (5 × 1.2^5 = 12.4).
  ASSERT_FALSE(p.growth.triggers.empty());
  EXPECT_EQ(p.growth.triggers[0].name,
            "database > 400 MB on the all host: move it off the app host");
  EXPECT_NEAR(p.growth.triggers[0].customers, 400e6 / 36.5e6, 1e-9);
  EXPECT_EQ(p.growth.triggers[0].month, 5);
  for (std::size_t i = 1; i < p.growth.triggers.size(); ++i) {
    EXPECT_GE(p.growth.triggers[i].customers, p.growth.triggers[i - 1].customers);
  }
  EXPECT_NE(p.growth.not_modelled.find("p95 latency > 500 ms"), std::string::npos);

  const nlohmann::ordered_json j = PlanToJson(p);
  const auto& months = j["growth"]["projection"];
  EXPECT_TRUE(months[4]["triggers_fired"].empty());
  ASSERT_FALSE(months[5]["triggers_fired"].empty());
  EXPECT_EQ(months[5]["triggers_fired"][0], p.growth.triggers[0].name);
  EXPECT_EQ(months[6]["tier"], 2);
  EXPECT_EQ(j["growth"]["not_modelled"].size(), 1U);
  const std::string table = PlanToTable(p, false);
  EXPECT_NE(table.find("scale triggers crossed on this layout"), std::string::npos);
  std::size_t said = 0;
  for (std::size_t at = table.find("p95 latency"); at != std::string::npos;
       at = table.find("p95 latency", at + 1)) {
    ++said;
  }
  EXPECT_EQ(said, 1U);
}

}  // namespace
}  // namespace crm::planner
