#include "crm/planner/pricing.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "crm/error.hpp"
#include "crm/yaml_source.hpp"

namespace crm::planner {
namespace {

template <typename T>
std::string Names(const std::vector<T>& items) {
  std::string out;
  for (const T& item : items) {
    out += out.empty() ? item.name : ", " + item.name;
  }
  return out.empty() ? "none" : out;
}

template <typename T>
const T* FindByName(const std::vector<T>& items, std::string_view name) {
  auto it = std::find_if(items.begin(), items.end(), [&](const T& i) { return i.name == name; });
  return it == items.end() ? nullptr : &*it;
}

}  // namespace

bool Coupon::AppliesTo(std::string_view plan) const {
  return plans.empty() || std::find(plans.begin(), plans.end(), plan) != plans.end();
}

const PricePlan* Pricing::FindPlan(std::string_view name) const {
  return FindByName(plans, name);
}

const Coupon* Pricing::FindCoupon(std::string_view name) const {
  return FindByName(coupons, name);
}

std::string Pricing::PlanNames() const {
  return Names(plans);
}

std::string Pricing::CouponNames() const {
  return Names(coupons);
}

Pricing ParsePricing(std::string_view text, const std::string& file) {
  const YAML::Node root = ParseYaml(text, file);
  StrictMap top(file, root, "pricing");
  const YAML::Node plans = top.Required("plans");
  const YAML::Node coupons = top.Optional("coupons");
  top.Finish();
  Pricing pricing;
  if (!plans.IsSequence() || plans.size() == 0) {
    FailAt(file, plans, "plans: expected a non-empty list");
  }
  for (const auto& node : plans) {
    StrictMap m(file, node, "price plan");
    PricePlan p;
    p.name = m.RequiredString("name");
    p.usd_per_customer_month = m.RequiredNumber("usd_per_customer_month");
    if (!(p.usd_per_customer_month > 0) || p.usd_per_customer_month > 1'000'000) {
      FailAt(file, node,
             fmt::format("plan {}: usd_per_customer_month must be in (0, 1000000]", p.name));
    }
    p.source = m.RequiredString("source");
    m.Finish();
    if (pricing.FindPlan(p.name) != nullptr) {
      FailAt(file, node, fmt::format("plan {}: named twice", p.name));
    }
    pricing.plans.push_back(std::move(p));
  }
  if (coupons && !coupons.IsNull()) {
    if (!coupons.IsSequence()) {
      FailAt(file, coupons, "coupons: expected a list");
    }
    for (const auto& node : coupons) {
      StrictMap m(file, node, "coupon");
      Coupon c;
      c.name = m.RequiredString("name");
      c.percent_off = m.RequiredNumber("percent_off");
      if (!(c.percent_off > 0) || c.percent_off > 100) {
        FailAt(file, node, fmt::format("coupon {}: percent_off must be in (0, 100]", c.name));
      }
      c.months = m.RequiredCount("months");
      if (c.months < 1 || c.months > 120) {
        FailAt(file, node, fmt::format("coupon {}: months must be 1–120", c.name));
      }
      if (const YAML::Node list = m.Optional("plans")) {
        if (!list.IsSequence()) {
          FailAt(file, list, fmt::format("coupon {}: plans: expected a list", c.name));
        }
        for (const auto& p : list) {
          std::string plan = ScalarString(file, p, "plans");
          if (pricing.FindPlan(plan) == nullptr) {
            FailAt(file, p,
                   fmt::format("coupon {}: plans: unknown plan '{}' (expected one of: {})", c.name,
                               plan, pricing.PlanNames()));
          }
          c.plans.push_back(std::move(plan));
        }
      }
      c.source = m.RequiredString("source");
      m.Finish();
      if (pricing.FindCoupon(c.name) != nullptr) {
        FailAt(file, node, fmt::format("coupon {}: named twice", c.name));
      }
      pricing.coupons.push_back(std::move(c));
    }
  }
  return pricing;
}

}  // namespace crm::planner
