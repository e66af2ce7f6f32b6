// The whole-catalog server search, --provider/--prefer, and the source material's own deployments
// reproduced with their figures (docs/capacity-model.md, "Sizing a role" and "Reproduced").
#include "crm/planner/plan.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "crm/error.hpp"
#include "crm/planner/capacity.hpp"
#include "crm/planner/catalog.hpp"
#include "crm/planner/report.hpp"
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

// The tier search sizes a tier only while it can still beat the best so far (its roles sized so
// far plus the floors of the others): whatever it stops early must not be cheaper. Each tier
// whose envelope holds the workload, sized alone over the whole catalog, costs at least the plan.
TEST(SearchTest, TheChosenTierCostsNoMoreThanAnyOtherThatFits) {
  int compared = 0;
  for (long long customers :
       {1LL, 8LL, 40LL, 90LL, 150LL, 320LL, 480LL, 520LL, 900LL, 1500LL, 1999LL, 2600LL, 4800LL}) {
    for (const char* engine : {"whatsmeow", "noweb", "webjs", "cloud-api"}) {
      for (const bool replica : {false, true}) {
        for (const std::vector<std::string>& providers :
             {std::vector<std::string>{}, std::vector<std::string>{"hetzner", "aws"}}) {
          Workload w;
          w.customers = customers;
          w.engine = engine;
          w.messages_per_customer_day = 40 + customers % 160;
          w.replica = replica;
          PlanOptions options;
          options.providers = providers;
          const Plan p = PlanOf(w, options);
          const double messages = static_cast<double>(customers * w.messages_per_customer_day);
          for (const Tier& t : Cat().tiers()) {
            if (&t == p.tier || (replica && !t.has_replica) ||
                (t.max_customers != 0 && customers > t.max_customers) ||
                (t.max_messages_per_day != 0 &&
                 messages > static_cast<double>(t.max_messages_per_day))) {
              continue;
            }
            PlanOptions alone = options;
            alone.only_tier = t.id;
            alone.search = Search::kCatalog;
            Plan q;
            try {
              q = PlanOf(w, alone);
            } catch (const InputError&) {
              continue;  // no allowed provider hosts one of its roles
            }
            if (q.zone == Zone::kRed) {
              continue;
            }
            EXPECT_LE(p.monthly_usd, q.monthly_usd + 1e-9)
                << customers << " " << engine << (replica ? " replica" : "") << " providers "
                << providers.size() << ": tier " << p.tier->id << " chosen over tier " << t.id;
            ++compared;
          }
        }
      }
    }
  }
  EXPECT_GT(compared, 100);
}

// A catalog in which the first tier that fits is not the cheapest: tier 1 backs up off the host at
// a dear rule price, tier 2 keeps its copy locally. Tier 2 is sized after tier 1 has set the bound
// and must still be sized far enough to win.
TEST(SearchTest, ALaterTierThatIsCheaperWinsOverAnEarlierOneThatFits) {
  std::vector<CatalogFile> files = EmbeddedCatalogFiles();
  std::string rules;
  std::string tier1;
  for (CatalogFile& f : files) {
    std::string text(f.text);
    if (f.name.ends_with("rules.yaml")) {
      const auto at = text.find("backup_usd_month:\n  value: 5\n");
      ASSERT_NE(at, std::string::npos);
      rules = text.replace(at, 29, "backup_usd_month:\n  value: 500\n");
      f.text = rules;
    } else if (f.name.ends_with("tier1.yaml")) {
      const auto at = text.find("backups: local");
      ASSERT_NE(at, std::string::npos);
      tier1 = text.replace(at, 14, "backups: off-host");
      f.text = tier1;
    }
  }
  ASSERT_FALSE(rules.empty());
  ASSERT_FALSE(tier1.empty());
  const Catalog catalog = Catalog::Parse(files);
  Workload w;
  w.customers = 5;
  ValidateWorkload(w, catalog);
  const Plan first = MakePlan(w, catalog, PlanOptions{.only_tier = 1, .search = Search::kCatalog});
  ASSERT_NE(first.zone, Zone::kRed);  // tier 1 fits, so it bounds the tiers sized after it
  const Plan p = MakePlan(w, catalog, PlanOptions{});
  EXPECT_EQ(p.tier->id, 2);
  EXPECT_LT(p.monthly_usd, first.monthly_usd);
  EXPECT_LT(p.monthly_usd, 500);
}

// Batch shares a PlanMemo between a chunk's rows: the roles that carry no demand are sized once.
// Whatever the rows between, every plan made through it is the plan made without it, for each set
// of options (one memo per set, as a chunk has), tiers 1 to 5, one region or three, with a replica
// or not, and workloads no tier fits (sized again without fits_only).
TEST(SearchTest, APlanMemoChangesNoPlan) {
  std::vector<PlanOptions> option_sets(4);
  option_sets[1].providers = {"hetzner", "aws"};
  option_sets[2].prefer = {"ovh"};
  option_sets[3].only_tier = 4;
  for (const PlanOptions& options : option_sets) {
    PlanMemo memo;
    Plan with;
    int planned = 0;
    for (long long customers : {5LL, 80LL, 300LL, 800LL, 1'500LL, 3'000LL, 12'000LL, 400'000LL}) {
      for (const char* engine : {"whatsmeow", "webjs", "crmd"}) {
        for (int regions : {1, 3}) {
          for (bool replica : {false, true}) {
            Workload w;
            w.customers = customers;
            w.engine = engine;
            w.devices_per_customer = 2;
            w.regions = regions;
            w.ha = regions > 1;
            w.replica = replica;
            try {
              ValidateWorkload(w, Cat());
              MakePlan(w, Cat(), options, with, &memo);
            } catch (const InputError& e) {
              // No tier offers this combination (a replica with three regions): the same
              // refusal without the memo.
              EXPECT_THROW(MakePlan(w, Cat(), options), InputError) << e.what();
              continue;
            }
            const Plan without = MakePlan(w, Cat(), options);
            EXPECT_EQ(PlanToJson(with), PlanToJson(without))
                << customers << " " << engine << " regions " << regions << " replica " << replica;
            ++planned;
          }
        }
      }
    }
    EXPECT_GT(planned, 40);
    // Something was sized once and reused (tiers 3 to 5 have roles that carry nothing).
    EXPECT_GT(memo.size(), 0U);
  }
}

}  // namespace
}  // namespace crm::planner
