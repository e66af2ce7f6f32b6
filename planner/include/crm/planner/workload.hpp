// A workload to size (docs/capacity-model.md, "Inputs"): the same keys in workload.yaml, CLI flags
// and CSV columns.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace crm::planner {

class Catalog;

struct Workload {
  std::string name;          // batch rows only (column `name`)
  long long customers = -1;  // required; -1 = not given
  long long devices_per_customer = 2;
  long long messages_per_customer_day = 100;
  long long dashboard_tabs_per_customer = 2;
  long long peak_pending_tasks = 0;
  long long retention_days = 365;
  std::string engine = "whatsmeow";
  double growth_per_month = 0;
  long long horizon_months = 12;
  double peak_factor = 10;
  std::optional<double> price_per_customer_month;  // USD, a price of its own
  std::string price_plan;                          // a plan of pricing.yaml instead (empty: none)
  std::string coupon;  // a coupon of pricing.yaml on that price (empty: none)
  bool ha = false;
  long long regions = 1;
  /// Count idle slices of swappable engines at their idle resident size, the rest in swap
  /// (docs/capacity-model.md "Swap"); off by default: it is overcommitment.
  bool swap = false;
  std::optional<double> idle_share;  // unset: the rule idle_share
  /// Add a PostgreSQL read replica (tiers with a replica role; tier 3's is opt-in).
  bool replica = false;
  /// "off-host" or "local"; empty: the tier's default (docs/capacity-model.md, "Cost lines").
  std::string backups;
};

/// The workload keys in their documented order (yaml keys = CSV columns; flags use dashes).
const std::vector<std::string_view>& WorkloadKeys();

/// Whether `key` is a workload key (or "name").
bool IsWorkloadKey(std::string_view key);

/// A workload key (or "name") resolved once, e.g. per CSV header, so that setting a field does
/// not compare the key's text again (batch sets several per row).
enum class WorkloadField {
  kName,
  kCustomers,
  kDevicesPerCustomer,
  kMessagesPerCustomerDay,
  kDashboardTabsPerCustomer,
  kPeakPendingTasks,
  kRetentionDays,
  kEngine,
  kGrowthPerMonth,
  kHorizonMonths,
  kPeakFactor,
  kPricePerCustomerMonth,
  kPricePlan,
  kCoupon,
  kHa,
  kRegions,
  kSwap,
  kIdleShare,
  kReplica,
  kBackups,
};

/// The field a workload key (or "name") sets; none for any other text.
std::optional<WorkloadField> FindWorkloadField(std::string_view key);

/// Sets one key from its text (a CSV cell, a flag). Parses and range-checks the value.
/// Throws InputError "key: reason" (e.g. `customers: expected a whole number, got "12x"`).
void SetWorkloadField(Workload& workload, std::string_view key, std::string_view value);
/// The same for a key already resolved.
void SetWorkloadField(Workload& workload, WorkloadField field, std::string_view value);
/// Puts one field back to its value in `defaults` (an empty CSV cell).
void ResetWorkloadField(Workload& workload, WorkloadField field, const Workload& defaults);

/// Checks what a single field cannot: customers given, engine known to `catalog`.
/// Throws InputError naming the field.
void ValidateWorkload(const Workload& workload, const Catalog& catalog);

/// Parses workload.yaml (a mapping of workload keys). Unknown keys, wrong types and values out
/// of range are InputError "file:line:col: key: reason". Does not require `customers` (flags may
/// add it); call ValidateWorkload afterwards.
Workload ParseWorkloadYaml(std::string_view text, const std::string& file, Workload base = {});

}  // namespace crm::planner
