// What a workspace costs: one plan, its list price and the launch discount, from the
// configuration (docs/operations.md, "Prices"). The pricing page shows it; billing charges it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace crm::gateway {

struct PricePlan {
  std::string name = "Workspace";
  std::string currency = "USD";      ///< ISO 4217, upper case
  int monthly_cents = 900;           ///< list price per workspace per month
  int launch_discount_percent = 50;  ///< 0: no discount

  /// The monthly price with the launch discount, rounded to the nearest cent (half up).
  int LaunchMonthlyCents() const;
};

/// {"name", "currency", "monthly_cents", "launch_discount_percent", "launch_monthly_cents"}: what
/// GET /billing/plan answers.
nlohmann::json PlanJson(const PricePlan& plan);

}  // namespace crm::gateway
