#include "crm/gateway/price_plan.hpp"

namespace crm::gateway {

int PricePlan::LaunchMonthlyCents() const {
  long long discounted = static_cast<long long>(monthly_cents) * (100 - launch_discount_percent);
  return static_cast<int>((discounted + 50) / 100);
}

nlohmann::json PlanJson(const PricePlan& plan) {
  return {{"name", plan.name},
          {"currency", plan.currency},
          {"monthly_cents", plan.monthly_cents},
          {"launch_discount_percent", plan.launch_discount_percent},
          {"launch_monthly_cents", plan.LaunchMonthlyCents()}};
}

}  // namespace crm::gateway
