// The whole-catalog server search, --provider/--prefer, and the source material's own deployments
// reproduced with their figures (docs/capacity-model.md, "Sizing a role" and "Reproduced").
#include "crm/planner/plan.hpp"

#include <gtest/gtest.h>

#include <string>

#include "crm/error.hpp"
#include "crm/planner/capacity.hpp"
#include "crm/planner/catalog.hpp"
#include "plan_lookup.hpp"

namespace crm::planner {
namespace {

const Catalog& Cat() {
  return Catalog::Embedded();
}

Plan PlanOf(Workload w, PlanOptions options = {}) {
  ValidateWorkload(w, Cat());
  return MakePlan(w, Cat(), options);
}

// Source: 60–80 whatsapp-web.js (Chromium) slices on one OVH VPS-5 (64 GB, $40.40) in
// production, sold at $9.
TEST(SourceDeploymentTest, EightyWebjsCustomersRunOnOneOvhVps5) {
  Workload w;
  w.customers = 80;
  w.devices_per_customer = 1;
  w.engine = "webjs";
  w.price_per_customer_month = 9;
  const Plan p = PlanOf(w);
  EXPECT_EQ(p.tier->id, 2);
  ASSERT_EQ(p.layout.size(), 1U);
  EXPECT_EQ(p.layout[0].count, 1);
  EXPECT_EQ(p.layout[0].server->name, "ovh-vps-5");
  EXPECT_DOUBLE_EQ(p.monthly_usd, 40.40);
  EXPECT_NE(p.zone, Zone::kRed);
  // 80 × (450 MB + 2 × 80 KB + 3 MB) + 2 GB of services on the 61 GB usable.
  EXPECT_NEAR(p.utilization.ram, (80 * 453.16e6 + 2e9) / 61e9, 1e-9);
  ASSERT_TRUE(p.revenue.has_value());
  EXPECT_DOUBLE_EQ(p.revenue->mrr_usd, 720);
  EXPECT_EQ(p.revenue->break_even_customers, 5);  // ⌈40.40 ÷ 9⌉
  // Nothing else in the catalog holds 36 GB of Chromium on one host at ≤ 70 %.
  EXPECT_EQ(p.layout[0].runner_up, nullptr);
}

// Source: a 2 GB server holds ~50 whatsmeow devices optimally.
TEST(SourceDeploymentTest, TwoGigabyteServerHoldsAboutFiftyWhatsmeowDevices) {
  Workload w;
  w.engine = "whatsmeow";
  w.devices_per_customer = 1;
  const Capacity one = ComputeCapacity("do-basic-2gb", w, Cat());
  // 0.7 × 2 GiB − 0.58 × 2 GiB of services = 257.7 MB; ÷ 5.16 MB (2 MB + 2 × 80 KB + 3 MB).
  EXPECT_EQ(one.comfortable_devices, 49);
  EXPECT_EQ(one.binding_resource, "RAM");
  w.devices_per_customer = 2;
  const Capacity two = ComputeCapacity("do-basic-2gb", w, Cat());
  EXPECT_EQ(two.comfortable_devices, 70);  // 35 customers × 2: 7.16 MB each
}

// The published tier ranges price each tier's reference servers: the published layout (what
// `render --tier N` deploys) lands inside them; tier 5's range prices more than the catalog holds,
// which the plan says.
TEST(SourceDeploymentTest, TierReferenceWorkloadsLandInThePublishedRanges) {
  for (const Tier& t : Cat().tiers()) {
    PlanOptions options;
    options.only_tier = t.id;
    const Plan p = MakePlan(ReferenceWorkload(t), Cat(), options);
    EXPECT_EQ(p.search, Search::kReference);
    EXPECT_LE(p.utilization.Max(), 0.70 + 1e-9) << "tier " << t.id;
    if (t.id == 5) {
      EXPECT_LT(p.monthly_usd, t.published_min_usd);
      EXPECT_TRUE(HasWarning(p,
                             "managed PostgreSQL, a Redis-class queue store, a CDN and three "
                             "regions"))
          << "tier 5 at " << p.monthly_usd;
      continue;
    }
    EXPECT_GE(p.monthly_usd, t.published_min_usd) << "tier " << t.id;
    EXPECT_LE(p.monthly_usd, t.published_max_usd) << "tier " << t.id;
  }
  // The catalog search prices the same workload lower and says why.
  const Tier& t2 = *Cat().FindTier(2);
  const Plan cheap =
      PlanOf(ReferenceWorkload(t2), PlanOptions{.only_tier = 2, .search = Search::kCatalog});
  EXPECT_LT(cheap.monthly_usd, t2.published_min_usd);
  EXPECT_TRUE(HasWarning(cheap, "below tier 2's published $40.00–$75.00"));
}

// If capacity says S holds N customers comfortably, the plan for N on a single-host tier costs
// no more than S.
TEST(SearchTest, PlanAndCapacityAgree) {
  int checked = 0;
  for (const Server& s : Cat().servers()) {
    // A server without local disk needs a volume the capacity figure does not price.
    if (s.kind != ServerKind::kVm || s.disk_bytes <= 0) {
      continue;
    }
    for (const char* engine : {"whatsmeow", "noweb", "webjs"}) {
      for (long long devices : {1LL, 2LL}) {
        Workload w;
        w.engine = engine;
        w.devices_per_customer = devices;
        const Capacity cap = ComputeCapacity(s.name, w, Cat());
        if (cap.comfortable_customers < 1) {
          continue;
        }
        w.customers = cap.comfortable_customers;
        for (const Tier& t : Cat().tiers()) {
          if (t.topology != Topology::kSingle) {
            continue;
          }
          const Plan p = PlanOf(w, PlanOptions{.only_tier = t.id, .search = Search::kCatalog});
          EXPECT_LE(p.monthly_usd, s.monthly_usd + 1e-9)
              << s.name << " holds " << w.customers << " " << engine << " × " << devices
              << "; tier " << t.id << " plans " << p.layout[0].server->name;
          ++checked;
        }
        if (w.customers <= 100) {  // inside a single-host tier's envelope: the plan itself
          EXPECT_LE(PlanOf(w).monthly_usd, s.monthly_usd + 1e-9) << s.name << " " << engine;
        }
      }
    }
  }
  EXPECT_GT(checked, 20);
}

TEST(SearchTest, EveryRoleTakesTheCheapestFittingServerOfAnyProvider) {
  Workload w;
  w.customers = 300;
  const Plan p = PlanOf(w);
  ASSERT_EQ(p.tier->id, 3);
  for (const LayoutRow& row : p.layout) {
    EXPECT_LE(row.ram_util, 0.70 + 1e-9) << row.spec->role;
    if (row.runner_up != nullptr) {
      EXPECT_GE(row.runner_up_usd, row.monthly_usd - 1e-9) << row.spec->role;
      EXPECT_NE(row.runner_up, row.server);
    }
  }
}

TEST(SearchTest, ProviderRestrictsEveryRole) {
  Workload w;
  w.customers = 300;
  PlanOptions options;
  options.providers = {"aws"};
  const Plan p = PlanOf(w, options);
  for (const LayoutRow& row : p.layout) {
    EXPECT_EQ(row.server->provider, "aws") << row.spec->role;
    if (row.runner_up != nullptr) {
      EXPECT_EQ(row.runner_up->provider, "aws");
    }
  }
  // Tier 3 lets managed PostgreSQL hold the messages: RDS is in the running.
  const LayoutRow& pg = p.layout[2];
  ASSERT_EQ(pg.spec->role, "postgres");
  ASSERT_NE(pg.runner_up, nullptr);
  EXPECT_EQ(pg.runner_up->name, "aws-rds-medium");
  EXPECT_DOUBLE_EQ(pg.runner_up_usd, 60);
}

TEST(SearchTest, PreferWinsWhenItFitsAndTheRunnerUpShowsWhatItCosts) {
  Workload w;
  w.customers = 5;
  PlanOptions options;
  options.prefer = {"do"};
  const Plan p = PlanOf(w, options);
  EXPECT_EQ(p.layout[0].server->name, "do-basic-2gb");  // 2 GiB: 1.25 GB services + 36 MB
  ASSERT_NE(p.layout[0].runner_up, nullptr);
  EXPECT_EQ(p.layout[0].runner_up->name, "hetzner-cx22");
  // A preference no offering of which fits falls back to the cheapest.
  w.customers = 80;
  w.devices_per_customer = 1;
  w.engine = "webjs";
  EXPECT_EQ(PlanOf(w, options).layout[0].server->name, "ovh-vps-5");
}

TEST(SearchTest, UnknownProviderIsAnInputErrorNamingTheFlag) {
  Workload w;
  w.customers = 5;
  PlanOptions options;
  options.providers = {"linode"};
  try {
    PlanOf(w, options);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "--provider");
    EXPECT_NE(std::string(e.what()).find("unknown provider 'linode'"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("hetzner"), std::string::npos);
  }
}

TEST(SearchTest, ATierNoAllowedProviderCanHostIsSkippedWithAWarning) {
  Workload w;
  w.customers = 3000;
  PlanOptions options;
  options.providers = {"hetzner"};
  const Plan p = PlanOf(w, options);
  EXPECT_EQ(p.tier->id, 4);  // tier 5's control plane is an EKS offering
  EXPECT_TRUE(HasWarning(p, "tier 5 (Enterprise) is out of reach"));
  options.only_tier = 5;
  EXPECT_THROW(PlanOf(w, options), InputError);
}

TEST(SearchTest, AMixedLayoutWarnsAboutTrafficBetweenProviders) {
  Workload w;
  w.customers = 1000;
  const Plan p = PlanOf(w);
  bool mixed = false;
  for (const LayoutRow& row : p.layout) {
    mixed = mixed || row.server->provider != p.layout[0].server->provider;
  }
  EXPECT_EQ(mixed, HasWarning(p, "the layout spans providers"));
}

}  // namespace
}  // namespace crm::planner
