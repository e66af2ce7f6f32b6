// The planner's training run for profile-guided optimisation (CRM_PGO; docs/benchmarks.md,
// "Profile-guided planner"). Built against an instrumented copy of the planner, it sizes the
// kinds of workload crmctl is asked for, so that the compiler lays out the planner for the
// branches real runs take: batches of prospects as CSV and JSON lines (every engine, from one
// customer to tens of thousands, optional cells empty or set), and single plans with their
// options (HA, regions, a replica, swap, providers, a tier forced). Its rows come from its own
// generator: nothing here is the benchmark's file.
#include <cstdint>
#include <cstdio>
#include <exception>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "crm/planner/batch.hpp"
#include "crm/planner/catalog.hpp"
#include "crm/planner/plan.hpp"
#include "crm/planner/report.hpp"
#include "crm/planner/workload.hpp"

namespace {

using crm::planner::BatchOptions;
using crm::planner::Catalog;
using crm::planner::OutputFormat;

// std::mt19937_64's sequence is fixed by the standard, so the rows and the profile are the same on
// every machine (a distribution's is not: values are taken modulo instead).
class Random {
 public:
  explicit Random(std::uint64_t seed) : engine_(seed) {}
  long long Below(long long n) {
    return static_cast<long long>(engine_() % static_cast<std::uint64_t>(n));
  }

 private:
  std::mt19937_64 engine_;
};

// Prospects spread evenly over the orders of magnitude of customers (1 to ~30,000), so every
// tier's layouts are sized, with a name that sometimes needs quoting.
std::string Prospects(int rows, std::uint64_t seed) {
  static const char* const kEngines[] = {"whatsmeow", "noweb", "webjs", "cloud-api", "crmd"};
  Random random(seed);
  std::string csv =
      "name,customers,devices_per_customer,messages_per_customer_day,engine,growth_per_month,"
      "price_per_customer_month,peak_pending_tasks\n";
  for (int i = 0; i < rows; ++i) {
    const long long magnitude = 1 + random.Below(4);  // 10^1 .. 10^4
    long long customers = 1;
    for (long long m = 0; m < magnitude; ++m) {
      customers *= 10;
    }
    customers = 1 + random.Below(customers * 3);
    const long long devices = random.Below(5);  // 0: the default (empty cell)
    const long long messages = 20 + random.Below(400);
    const char* engine = kEngines[random.Below(5)];
    const long long growth = random.Below(6);    // 0: empty
    const long long price = random.Below(4);     // 0: empty
    const long long backlog = random.Below(20);  // mostly empty
    if (i % 8 == 0) {
      csv += fmt::format("\"Prospect, \"\"{}\"\"\",", i);
    } else {
      csv += fmt::format("p{},", i);
    }
    csv += fmt::format("{},", customers);
    csv += devices == 0 ? std::string(",") : fmt::format("{},", devices);
    csv += fmt::format("{},{},", messages, engine);
    csv += growth == 0 ? std::string(",") : fmt::format("0.{:02},", growth * 4);
    csv += price == 0 ? std::string(",") : fmt::format("{},", 5 + price * 7);
    csv += backlog == 0 ? std::string("\n") : fmt::format("{}\n", backlog * 1000);
  }
  return csv;
}

void Batch(const Catalog& catalog, const std::string& csv, OutputFormat format,
           std::vector<std::string> providers = {}) {
  std::istringstream in(csv);
  std::ostringstream out;
  std::ostringstream err;
  BatchOptions options;
  options.format = format;
  options.jobs = 1;  // one thread: the counters need no atomic updates
  options.providers = std::move(providers);
  crm::planner::RunBatch(in, "train.csv", catalog, options, out, err);
}

void Single(const Catalog& catalog, long long customers, const char* engine, bool ha,
            long long regions, bool replica, bool swap, int only_tier) {
  crm::planner::Workload w;
  w.customers = customers;
  w.engine = engine;
  w.ha = ha;
  w.regions = regions;
  w.replica = replica;
  w.swap = swap;
  w.growth_per_month = 0.1;
  w.price_per_customer_month = 19;
  crm::planner::ValidateWorkload(w, catalog);
  crm::planner::PlanOptions options;
  options.explain = true;
  options.projection_tiers = true;
  options.only_tier = only_tier;
  const crm::planner::Plan plan = crm::planner::MakePlan(w, catalog, options);
  (void)crm::planner::PlanToJson(plan).dump();
}

}  // namespace

int main() {
  try {
    const Catalog& catalog = Catalog::Embedded();
    Batch(catalog, Prospects(120'000, 0x9e3779b97f4a7c15ULL), OutputFormat::kCsv);
    Batch(catalog, Prospects(10'000, 0x2545f4914f6cdd1dULL), OutputFormat::kJson);
    Batch(catalog, Prospects(10'000, 0x5851f42d4c957f2dULL), OutputFormat::kCsv, {"hetzner"});
    static const char* const kEngines[] = {"whatsmeow", "webjs", "cloud-api"};
    for (const char* engine : kEngines) {
      for (long long customers : {5LL, 80LL, 400LL, 1500LL, 6000LL}) {
        Single(catalog, customers, engine, false, 1, false, false, 0);
        // Tier 5 (three regions) has no replica role; tiers 3 and 4 have one.
        Single(catalog, customers, engine, customers >= 100, customers >= 2000 ? 3 : 1,
               customers >= 100 && customers < 2000, true, 0);
      }
    }
    for (int tier = 1; tier <= static_cast<int>(catalog.tiers().size()); ++tier) {
      Single(catalog, 50, "whatsmeow", false, 1, false, false, tier);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "crm_planner_pgo_train: %s\n", e.what());
    return 1;
  }
  return 0;
}
