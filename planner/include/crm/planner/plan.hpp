// Sizing a workload: demand, tier, layout, utilisation, knobs, PostgreSQL settings, cost,
// growth and revenue (docs/capacity-model.md, "Formulas"), every figure with its arithmetic.
#pragma once

#include <cmath>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "crm/planner/catalog.hpp"
#include "crm/planner/workload.hpp"

namespace crm::planner {

/// Resource demand of a workload, before it is placed on hosts. Bytes, cores, messages.
struct Demand {
  double sessions_ram = 0;
  double websockets_ram = 0;
  double queue_ram = 0;
  double buffers_ram = 0;
  double services_ram = 0;  // sum over the chosen layout's hosts
  /// The engine's base_ram, where it has one: the runtime's own share of services_ram on one
  /// server (JSON demand.ram_bytes.engine_base; absent otherwise).
  double engine_base_ram = 0;
  double total_ram = 0;
  double swapped_ram = 0;    // --swap: of sessions_ram, what idle slices hold in swap instead
  double messages_disk = 0;  // raw message storage
  double sessions_disk = 0;  // the engine's session files (engines.yaml disk_per_device)
  double total_disk = 0;     // messages + headroom + per-host services disk
  double cpu_cores = 0;      // messages + device keep-alive + per-host services
  double messages_per_day = 0;
  double peak_messages_per_second = 0;
  long long db_connections = 0;  // what the deployment's pools may open at once
};

/// One row of the layout: `count` identical hosts of one role.
struct LayoutRow {
  const RoleSpec* spec = nullptr;
  const Server* server = nullptr;
  int count = 0;
  double volume_bytes = 0;  // extra block storage per host
  double monthly_usd = 0;   // for all `count` hosts, volumes included
  // The next best offering that also fits (another server), or none: what the choice saves.
  const Server* runner_up = nullptr;
  int runner_up_count = 0;
  double runner_up_usd = 0;
  // Per-host demand and utilisation.
  double ram_demand = 0, disk_demand = 0, cpu_demand = 0;
  double ram_util = 0, disk_util = 0, cpu_util = 0;
  double swap_demand = 0, swap_util = 0;  // --swap: idle slices' pushed-out pages
  double disk_bytes() const { return server->disk_bytes + volume_bytes; }
};

struct Utilization {
  double ram = 0, disk = 0, cpu = 0;  // the busiest host's, 0..1 (may exceed 1 in the red)
  double swap = 0;                    // --swap only
  double Max() const;
};

enum class Zone { kGreen, kYellow, kRed };
std::string_view ZoneName(Zone z);

/// A knob is a whole number or a text value (e.g. a shard range list).
using KnobValue = std::variant<long long, std::string>;

/// A scale trigger (rules trigger_*) and the customer count at which it fires on the layout.
struct ScaleTrigger {
  std::string name;
  double customers = 0;      // fires above this many customers; 0: the fixed load alone fires it
  std::optional<int> month;  // the month growth crosses it: 0 already, none not within 120

  /// The first whole customer count past `customers`: where it has fired (10.96 → 11).
  double FiresAt() const { return std::floor(customers) + 1; }
};

/// One month of the growth projection.
struct ProjectionMonth {
  int month = 0;
  long long customers = 0;
  int tier = 0;  // the tier a plan for that month's customers takes; 0 when not computed
};

struct Growth {
  double rate_per_month = 0;
  std::optional<int> months_until_upgrade;  // none: not within 120 months
  std::string upgrade_reason;               // what is crossed first
  // The scale trigger (rules trigger_*, docs/capacity-model.md "Scale triggers") that fires
  // first: empty when none of the modelled ones fires; month 0: already fired; none: not within
  // 120 months.
  std::string first_trigger;
  double first_trigger_customers = 0;
  std::optional<int> first_trigger_month;
  /// Every modelled trigger on the chosen layout, in the order they fire (filled with reasons).
  std::vector<ScaleTrigger> triggers;
  /// What the triggers leave out, said once (p95 latency is measured, not modelled).
  std::string not_modelled;
  std::vector<ProjectionMonth> projection;  // months 0..horizon
};

/// A line of the monthly cost: the servers, the off-host backups, the transfer beyond what the
/// servers include (docs/capacity-model.md, "Cost lines").
struct CostLine {
  std::string_view item;  // "servers", "backups", "bandwidth"
  double monthly_usd = 0;
  std::string note;  // what it prices (filled with reasons or explain)
};

/// One price's figures at the workload's customers and the layout's monthly cost.
struct PriceRevenue {
  std::string_view plan;  // a plan of pricing.yaml; empty: the workload's own price
  double price_per_customer_month = 0;
  double mrr_usd = 0;
  double margin_usd = 0;
  long long break_even_customers = 0;  // 0 when the price is 0 (never)
};

struct Revenue : PriceRevenue {
  // With a coupon: the same figures while customers pay the discounted price (their first
  // `coupon_months`; at launch that is every customer).
  std::string_view coupon;
  double percent_off = 0;
  long long coupon_months = 0;
  std::optional<PriceRevenue> launch;
  // Every plan of pricing.yaml at the same customers and cost (PlanOptions::compare_plans).
  std::vector<PriceRevenue> by_plan;
};

/// One explained figure: "sessions RAM" = "5 customers × 2 devices × 2 MB (whatsmeow)" = "20 MB".
struct ExplainLine {
  std::string figure;
  std::string arithmetic;
  std::string result;
};

/// How servers are chosen for a tier's roles (docs/capacity-model.md, "Sizing a role").
enum class Search {
  kAuto,       // kReference when PlanOptions::only_tier is set, else kCatalog
  kCatalog,    // every offering of the role's kind that fits, from every allowed provider
  kReference,  // the tier's published layout: the reference server or a larger one of its provider
};
std::string_view SearchName(Search s);

struct Plan {
  Workload workload;
  Search search = Search::kCatalog;    // as resolved
  std::vector<std::string> providers;  // --provider: only these (empty: all)
  std::vector<std::string> prefer;     // --prefer: these win when one of them fits
  Demand demand;
  const Tier* tier = nullptr;
  std::vector<LayoutRow> layout;
  Utilization utilization;
  Zone zone = Zone::kGreen;
  // Names are string literals of the planner: no allocation per plan.
  std::vector<std::pair<std::string_view, KnobValue>> knobs;
  std::vector<std::pair<std::string_view, double>> postgres;  // bytes for memory settings
  double monthly_usd = 0;                                     // every cost line
  std::vector<CostLine> cost_lines;    // servers, backups, bandwidth (sum: monthly_usd)
  bool off_host_backups = false;       // as resolved from the workload and the tier
  double egress_bytes_month = 0;       // outbound transfer the workload causes
  double transfer_included_bytes = 0;  // what the egressing servers include
  Growth growth;
  std::optional<Revenue> revenue;
  std::vector<std::string> warnings;
  std::vector<ExplainLine> explain;  // filled when PlanOptions::explain
};

struct PlanOptions {
  bool explain = false;       // record every figure's arithmetic
  bool projection = true;     // fill Growth::projection
  bool reasons = true;        // fill Growth::upgrade_reason (text; batch CSV has no column for it)
  bool compare_plans = true;  // fill Revenue::by_plan (batch rows carry only their own plan)
  /// Plan each projected month to name the tier it needs (a plan per month: off in batch).
  bool projection_tiers = false;
  /// Fill Plan::knobs and Plan::postgres. Off, the figures they feed (Demand::db_connections)
  /// and the warnings about them are the same; batch CSV has no columns for the settings.
  bool settings = true;
  int only_tier = 0;  // consider only this tier (render --tier N); 0 = choose
  Search search = Search::kAuto;
  std::vector<std::string> providers = {};  // restrict every role to these providers (names)
  std::vector<std::string> prefer = {};     // a fitting offering of these wins over cheaper others
};

/// What plans of one catalog with one set of options can share: the sizing of a role that
/// carries no demand (a pooler, monitoring, a Kubernetes control plane: no `carries`, no share of
/// the message CPU) depends on the catalog, the options and the region count only, so a batch
/// sizes each such role once per chunk instead of once per row. Valid only with the catalog and
/// options it was filled with: make one per batch chunk, never keep one across catalogs.
class PlanMemo {
 public:
  PlanMemo();
  ~PlanMemo();
  PlanMemo(const PlanMemo&) = delete;
  PlanMemo& operator=(const PlanMemo&) = delete;

  /// Roles sized and kept.
  std::size_t size() const;

  struct Entries;  // plan.cpp
  Entries& entries() { return *entries_; }

 private:
  std::unique_ptr<Entries> entries_;
};

/// Sizes a validated workload (see ValidateWorkload). Pure: no I/O. Throws InputError for an
/// unknown provider in `options` (field --provider / --prefer), or when `only_tier` names a tier
/// that no allowed provider can host.
Plan MakePlan(const Workload& workload, const Catalog& catalog, const PlanOptions& options = {});

/// The same into an existing Plan, reusing its storage (batch planning keeps one per thread),
/// and with `memo` (may be null) reusing what earlier plans of the same catalog and options sized.
void MakePlan(const Workload& workload, const Catalog& catalog, const PlanOptions& options,
              Plan& plan, PlanMemo* memo = nullptr);

/// The reference workload of a tier: its envelope's top (twice its start when unbounded), with
/// `ha` when the tier is an HA one. `render --tier N` and `validate --all-tiers` plan it.
Workload ReferenceWorkload(const Tier& tier);

/// PostgreSQL settings names whose value is a size (bytes in Plan::postgres).
bool IsPostgresSizeSetting(std::string_view name);

}  // namespace crm::planner
