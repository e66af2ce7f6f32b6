// What a reseller charges (docs/capacity-model.md, "Revenue"): the price plans and coupons of
// tiers/pricing.yaml, looked up by the workload's price_plan and coupon.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace crm::planner {

struct PricePlan {
  std::string name;
  double usd_per_customer_month = 0;
  std::string source;
};

/// A discount on some plans for each customer's first months.
struct Coupon {
  std::string name;
  double percent_off = 0;          // 0 < p ≤ 100
  long long months = 0;            // ≥ 1
  std::vector<std::string> plans;  // the plans it applies to; empty: every plan
  std::string source;

  bool AppliesTo(std::string_view plan) const;
  /// The price after the discount.
  double Discounted(double price) const { return price * (1 - percent_off / 100); }
};

struct Pricing {
  std::vector<PricePlan> plans;
  std::vector<Coupon> coupons;

  /// nullptr when unknown.
  const PricePlan* FindPlan(std::string_view name) const;
  const Coupon* FindCoupon(std::string_view name) const;
  /// "basic, pro, business" (for messages).
  std::string PlanNames() const;
  std::string CouponNames() const;
};

/// Parses pricing.yaml. Unknown keys, duplicate names, a coupon naming an unknown plan or a
/// discount outside 0–100 % are InputError "file:line:col: …".
Pricing ParsePricing(std::string_view text, const std::string& file);

}  // namespace crm::planner
