#include "crm/planner/workload.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

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

bool IsWorkloadKey(std::string_view key) {
  if (key == "name") {
    return true;
  }
  const auto& keys = WorkloadKeys();
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

void SetWorkloadField(Workload& w, std::string_view key, std::string_view value) {
  // Ordered by how often batch rows carry them.
  if (key == "customers") {
    w.customers = Count(key, value, 1, kMaxCustomers);
  } else if (key == "devices_per_customer") {
    w.devices_per_customer = Count(key, value, 0, kMaxDevices);
  } else if (key == "messages_per_customer_day") {
    w.messages_per_customer_day = Count(key, value, 0, kMaxMessages);
  } else if (key == "engine") {
    w.engine.assign(value.data(), value.size());
  } else if (key == "name") {
    w.name.assign(value.data(), value.size());
  } else if (key == "dashboard_tabs_per_customer") {
    w.dashboard_tabs_per_customer = Count(key, value, 0, kMaxTabs);
  } else if (key == "peak_pending_tasks") {
    w.peak_pending_tasks = Count(key, value, 0, kMaxPending);
  } else if (key == "retention_days") {
    w.retention_days = Count(key, value, 1, kMaxRetention);
  } else if (key == "growth_per_month") {
    w.growth_per_month = Number(key, value, -0.99, 10);
  } else if (key == "horizon_months") {
    w.horizon_months = Count(key, value, 0, kMaxHorizon);
  } else if (key == "peak_factor") {
    w.peak_factor = Number(key, value, 1, 10'000);
  } else if (key == "price_per_customer_month") {
    w.price_per_customer_month = Number(key, value, 0, 1'000'000);
  } else if (key == "price_plan") {
    w.price_plan.assign(value.data(), value.size());
  } else if (key == "coupon") {
    w.coupon.assign(value.data(), value.size());
  } else if (key == "ha") {
    try {
      w.ha = ParseBool(value);
    } catch (const InputError& e) {
      throw InputError(fmt::format("ha: {}", e.what()));
    }
  } else if (key == "regions") {
    w.regions = Count(key, value, 1, kMaxRegions);
  } else if (key == "swap") {
    try {
      w.swap = ParseBool(value);
    } catch (const InputError& e) {
      throw InputError(fmt::format("swap: {}", e.what()));
    }
  } else if (key == "idle_share") {
    w.idle_share = Number(key, value, 0, 1);
  } else if (key == "replica") {
    try {
      w.replica = ParseBool(value);
    } catch (const InputError& e) {
      throw InputError(fmt::format("replica: {}", e.what()));
    }
  } else if (key == "backups") {
    if (!value.empty() && value != "off-host" && value != "local") {
      throw InputError(fmt::format(
          "backups: expected off-host or local (empty: the tier's default), got \"{}\"", value));
    }
    w.backups.assign(value.data(), value.size());
  } else {
    throw InputError(fmt::format("unknown key '{}'", key));
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
