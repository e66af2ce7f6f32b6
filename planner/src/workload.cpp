#include "crm/planner/workload.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <optional>

#include "crm/error.hpp"
#include "crm/planner/catalog.hpp"
#include "crm/units.hpp"
#include "crm/yaml_source.hpp"

namespace crm::planner {
namespace {

// Ranges beyond which a value is a typo, not a business: 10 million tenants is more than any
// WhatsApp CRM reseller serves, and the arithmetic stays far from overflow below these bounds.
constexpr long long kMaxCustomers = 10'000'000;
constexpr long long kMaxDevices = 1'000;
constexpr long long kMaxMessages = 10'000'000;
constexpr long long kMaxTabs = 1'000;
constexpr long long kMaxPending = 10'000'000'000;
constexpr long long kMaxRetention = 36'500;
constexpr long long kMaxHorizon = 120;
constexpr long long kMaxRegions = 20;

long long Count(std::string_view key, std::string_view value, long long min, long long max) {
  long long v = 0;
  try {
    v = ParseCount(value);
  } catch (const InputError& e) {
    throw InputError(fmt::format("{}: {}", key, e.what()));
  }
  if (v < min || v > max) {
    throw InputError(fmt::format("{}: {} is out of range (expected {} to {})", key, v,
                                 FormatNumber(static_cast<double>(min)),
                                 FormatNumber(static_cast<double>(max))));
  }
  return v;
}

double Number(std::string_view key, std::string_view value, double min, double max) {
  double v = 0;
  try {
    v = ParseNumber(value);
  } catch (const InputError& e) {
    throw InputError(fmt::format("{}: {}", key, e.what()));
  }
  if (v < min || v > max) {
    throw InputError(fmt::format("{}: {} is out of range (expected {} to {})", key,
                                 FormatNumber(v, 4), FormatNumber(min, 4), FormatNumber(max, 4)));
  }
  return v;
}

}  // namespace

const std::vector<std::string_view>& WorkloadKeys() {
  static const std::vector<std::string_view> keys = {
      "customers",
      "devices_per_customer",
      "messages_per_customer_day",
      "dashboard_tabs_per_customer",
      "peak_pending_tasks",
      "retention_days",
      "engine",
      "growth_per_month",
      "horizon_months",
      "peak_factor",
      "price_per_customer_month",
      "price_plan",
      "coupon",
      "ha",
      "regions",
      "swap",
      "idle_share",
      "replica",
      "backups",
  };
  return keys;
}

namespace {

struct NamedField {
  std::string_view key;
  WorkloadField field;
};

// Every key SetWorkloadField takes, "name" included.
constexpr NamedField kNamedFields[] = {
    {"name", WorkloadField::kName},
    {"customers", WorkloadField::kCustomers},
    {"devices_per_customer", WorkloadField::kDevicesPerCustomer},
    {"messages_per_customer_day", WorkloadField::kMessagesPerCustomerDay},
    {"dashboard_tabs_per_customer", WorkloadField::kDashboardTabsPerCustomer},
    {"peak_pending_tasks", WorkloadField::kPeakPendingTasks},
    {"retention_days", WorkloadField::kRetentionDays},
    {"engine", WorkloadField::kEngine},
    {"growth_per_month", WorkloadField::kGrowthPerMonth},
    {"horizon_months", WorkloadField::kHorizonMonths},
    {"peak_factor", WorkloadField::kPeakFactor},
    {"price_per_customer_month", WorkloadField::kPricePerCustomerMonth},
    {"price_plan", WorkloadField::kPricePlan},
    {"coupon", WorkloadField::kCoupon},
    {"ha", WorkloadField::kHa},
    {"regions", WorkloadField::kRegions},
    {"swap", WorkloadField::kSwap},
    {"idle_share", WorkloadField::kIdleShare},
    {"replica", WorkloadField::kReplica},
    {"backups", WorkloadField::kBackups},
};

// kNamedFields lists the fields in their enum order, so a field's key is found by its value.
constexpr bool InEnumOrder() {
  for (std::size_t i = 0; i < std::size(kNamedFields); ++i) {
    if (static_cast<std::size_t>(kNamedFields[i].field) != i) {
      return false;
    }
  }
  return true;
}
static_assert(InEnumOrder());

std::string_view KeyOf(WorkloadField field) {
  return kNamedFields[static_cast<std::size_t>(field)].key;
}

bool Bool(std::string_view key, std::string_view value) {
  try {
    return ParseBool(value);
  } catch (const InputError& e) {
    throw InputError(fmt::format("{}: {}", key, e.what()));
  }
}

}  // namespace

bool IsWorkloadKey(std::string_view key) {
  return FindWorkloadField(key).has_value();
}

std::optional<WorkloadField> FindWorkloadField(std::string_view key) {
  for (const NamedField& named : kNamedFields) {
    if (named.key == key) {
      return named.field;
    }
  }
  return std::nullopt;
}

void SetWorkloadField(Workload& w, std::string_view key, std::string_view value) {
  const std::optional<WorkloadField> field = FindWorkloadField(key);
  if (!field) {
    throw InputError(fmt::format("unknown key '{}'", key));
  }
  SetWorkloadField(w, *field, value);
}

void SetWorkloadField(Workload& w, WorkloadField field, std::string_view value) {
  const std::string_view key = KeyOf(field);
  switch (field) {
    case WorkloadField::kName:
      w.name.assign(value.data(), value.size());
      return;
    case WorkloadField::kCustomers:
      w.customers = Count(key, value, 1, kMaxCustomers);
      return;
    case WorkloadField::kDevicesPerCustomer:
      w.devices_per_customer = Count(key, value, 0, kMaxDevices);
      return;
    case WorkloadField::kMessagesPerCustomerDay:
      w.messages_per_customer_day = Count(key, value, 0, kMaxMessages);
      return;
    case WorkloadField::kDashboardTabsPerCustomer:
      w.dashboard_tabs_per_customer = Count(key, value, 0, kMaxTabs);
      return;
    case WorkloadField::kPeakPendingTasks:
      w.peak_pending_tasks = Count(key, value, 0, kMaxPending);
      return;
    case WorkloadField::kRetentionDays:
      w.retention_days = Count(key, value, 1, kMaxRetention);
      return;
    case WorkloadField::kEngine:
      w.engine.assign(value.data(), value.size());
      return;
    case WorkloadField::kGrowthPerMonth:
      w.growth_per_month = Number(key, value, -0.99, 10);
      return;
    case WorkloadField::kHorizonMonths:
      w.horizon_months = Count(key, value, 0, kMaxHorizon);
      return;
    case WorkloadField::kPeakFactor:
      w.peak_factor = Number(key, value, 1, 10'000);
      return;
    case WorkloadField::kPricePerCustomerMonth:
      w.price_per_customer_month = Number(key, value, 0, 1'000'000);
      return;
    case WorkloadField::kPricePlan:
      w.price_plan.assign(value.data(), value.size());
      return;
    case WorkloadField::kCoupon:
      w.coupon.assign(value.data(), value.size());
      return;
    case WorkloadField::kHa:
      w.ha = Bool(key, value);
      return;
    case WorkloadField::kRegions:
      w.regions = Count(key, value, 1, kMaxRegions);
      return;
    case WorkloadField::kSwap:
      w.swap = Bool(key, value);
      return;
    case WorkloadField::kIdleShare:
      w.idle_share = Number(key, value, 0, 1);
      return;
    case WorkloadField::kReplica:
      w.replica = Bool(key, value);
      return;
    case WorkloadField::kBackups:
      if (!value.empty() && value != "off-host" && value != "local") {
        throw InputError(fmt::format(
            "backups: expected off-host or local (empty: the tier's default), got \"{}\"", value));
      }
      w.backups.assign(value.data(), value.size());
      return;
  }
}

void ResetWorkloadField(Workload& w, WorkloadField field, const Workload& defaults) {
  switch (field) {
    case WorkloadField::kName:
      w.name = defaults.name;
      return;
    case WorkloadField::kCustomers:
      w.customers = defaults.customers;
      return;
    case WorkloadField::kDevicesPerCustomer:
      w.devices_per_customer = defaults.devices_per_customer;
      return;
    case WorkloadField::kMessagesPerCustomerDay:
      w.messages_per_customer_day = defaults.messages_per_customer_day;
      return;
    case WorkloadField::kDashboardTabsPerCustomer:
      w.dashboard_tabs_per_customer = defaults.dashboard_tabs_per_customer;
      return;
    case WorkloadField::kPeakPendingTasks:
      w.peak_pending_tasks = defaults.peak_pending_tasks;
      return;
    case WorkloadField::kRetentionDays:
      w.retention_days = defaults.retention_days;
      return;
    case WorkloadField::kEngine:
      w.engine = defaults.engine;
      return;
    case WorkloadField::kGrowthPerMonth:
      w.growth_per_month = defaults.growth_per_month;
      return;
    case WorkloadField::kHorizonMonths:
      w.horizon_months = defaults.horizon_months;
      return;
    case WorkloadField::kPeakFactor:
      w.peak_factor = defaults.peak_factor;
      return;
    case WorkloadField::kPricePerCustomerMonth:
      w.price_per_customer_month = defaults.price_per_customer_month;
      return;
    case WorkloadField::kPricePlan:
      w.price_plan = defaults.price_plan;
      return;
    case WorkloadField::kCoupon:
      w.coupon = defaults.coupon;
      return;
    case WorkloadField::kHa:
      w.ha = defaults.ha;
      return;
    case WorkloadField::kRegions:
      w.regions = defaults.regions;
      return;
    case WorkloadField::kSwap:
      w.swap = defaults.swap;
      return;
    case WorkloadField::kIdleShare:
      w.idle_share = defaults.idle_share;
      return;
    case WorkloadField::kReplica:
      w.replica = defaults.replica;
      return;
    case WorkloadField::kBackups:
      w.backups = defaults.backups;
      return;
  }
}

void ValidateWorkload(const Workload& w, const Catalog& catalog) {
  if (w.customers < 0) {
    throw InputError("customers: required (the number of tenants to size for)");
  }
  if (catalog.FindEngine(w.engine) == nullptr) {
    throw InputError(
        fmt::format("engine: unknown '{}' (expected one of: {})", w.engine, catalog.EngineNames()));
  }
  const Pricing& pricing = catalog.pricing();
  if (!w.price_plan.empty()) {
    if (w.price_per_customer_month) {
      throw InputError(
          "price_plan: give either a plan or price_per_customer_month, not both (the plan has "
          "its own price)");
    }
    if (pricing.FindPlan(w.price_plan) == nullptr) {
      throw InputError(fmt::format("price_plan: unknown '{}' (expected one of: {})", w.price_plan,
                                   pricing.PlanNames()));
    }
  }
  if (!w.coupon.empty()) {
    const Coupon* coupon = pricing.FindCoupon(w.coupon);
    if (coupon == nullptr) {
      throw InputError(fmt::format("coupon: unknown '{}' (expected one of: {})", w.coupon,
                                   pricing.CouponNames()));
    }
    if (w.price_plan.empty() && !w.price_per_customer_month) {
      throw InputError(
          "coupon: needs a price to discount (price_plan or price_per_customer_month)");
    }
    if (!coupon->AppliesTo(w.price_plan)) {
      std::string plans;
      for (const std::string& p : coupon->plans) {
        plans += plans.empty() ? p : ", " + p;
      }
      throw InputError(fmt::format(
          "coupon: '{}' applies only to the plans {}{}", w.coupon, plans,
          w.price_plan.empty() ? ", not to a price of your own" : ", not to " + w.price_plan));
    }
  }
}

Workload ParseWorkloadYaml(std::string_view text, const std::string& file, Workload base) {
  const YAML::Node root = ParseYaml(text, file);
  if (!root || root.IsNull()) {
    throw InputError(
        fmt::format("{}: empty workload file (expected keys such as customers: 50)", file));
  }
  if (!root.IsMap()) {
    FailAt(file, root, "workload: expected a mapping of keys such as customers: 50");
  }
  for (const auto& kv : root) {
    const YAML::Node& key = kv.first;
    if (!key.IsScalar()) {
      FailAt(file, key, "workload: keys must be plain names");
    }
    const std::string& name = key.Scalar();
    if (name == "name" || !IsWorkloadKey(name)) {
      std::string expected;
      for (std::string_view k : WorkloadKeys()) {
        expected += expected.empty() ? std::string(k) : ", " + std::string(k);
      }
      FailAt(file, key, fmt::format("unknown key '{}' (expected one of: {})", name, expected));
    }
    const YAML::Node& value = kv.second;
    if (!value.IsScalar()) {
      FailAt(file, value, fmt::format("{}: expected a single value", name));
    }
    try {
      SetWorkloadField(base, name, value.Scalar());
    } catch (const InputError& e) {
      FailAt(file, value, e.what());
    }
  }
  return base;
}

}  // namespace crm::planner
