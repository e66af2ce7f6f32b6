// Price plans and coupons (tiers/pricing.yaml) and the revenue a plan reports for them
// (docs/capacity-model.md, "Revenue").
#include "crm/planner/pricing.hpp"

#include <gtest/gtest.h>

#include <string>

#include "crm/error.hpp"
#include "crm/planner/catalog.hpp"
#include "crm/planner/plan.hpp"

namespace crm::planner {
namespace {

std::string ErrorOf(const std::string& yaml) {
  try {
    ParsePricing(yaml, "pricing.yaml");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(PricingTest, EmbeddedCatalogCarriesTheSourcePlanAndItsLaunchCoupon) {
  const Pricing& p = Catalog::Embedded().pricing();
  const PricePlan* basic = p.FindPlan("basic");
  ASSERT_NE(basic, nullptr);
  EXPECT_DOUBLE_EQ(basic->usd_per_customer_month, 9);
  const Coupon* launch = p.FindCoupon("launch50");
  ASSERT_NE(launch, nullptr);
  EXPECT_DOUBLE_EQ(launch->Discounted(9), 4.5);
  EXPECT_TRUE(launch->AppliesTo("basic"));
  EXPECT_FALSE(launch->AppliesTo("pro"));
  for (const PricePlan& plan : p.plans) {
    EXPECT_FALSE(plan.source.empty()) << plan.name;
  }
}

TEST(PricingTest, BadFilesNameTheLineAndTheField) {
  EXPECT_NE(ErrorOf("plans: []\n").find("plans: expected a non-empty list"), std::string::npos);
  EXPECT_NE(ErrorOf("plans:\n  - {name: a, usd_per_customer_month: -1, source: x}\n")
                .find("pricing.yaml:2:5: plan a: usd_per_customer_month"),
            std::string::npos);
  EXPECT_NE(ErrorOf("plans:\n  - {name: a, usd_per_customer_month: 5, source: x}\n"
                    "  - {name: a, usd_per_customer_month: 6, source: x}\n")
                .find("plan a: named twice"),
            std::string::npos);
  const std::string plan = "plans:\n  - {name: a, usd_per_customer_month: 5, source: x}\n";
  EXPECT_NE(ErrorOf(plan + "coupons:\n  - {name: c, percent_off: 150, months: 3, source: x}\n")
                .find("percent_off must be in (0, 100]"),
            std::string::npos);
  EXPECT_NE(ErrorOf(plan + "coupons:\n  - {name: c, percent_off: 10, months: 0, source: x}\n")
                .find("months must be 1–120"),
            std::string::npos);
  EXPECT_NE(
      ErrorOf(plan + "coupons:\n  - {name: c, percent_off: 10, months: 2, plans: [b], source: x}\n")
          .find("coupon c: plans: unknown plan 'b' (expected one of: a)"),
      std::string::npos);
  EXPECT_NE(ErrorOf(plan + "extra: 1\n").find("unknown key 'extra'"), std::string::npos);
}

Plan PlanOf(Workload w, PlanOptions options = {}) {
  ValidateWorkload(w, Catalog::Embedded());
  return MakePlan(w, Catalog::Embedded(), options);
}

// 80 webjs customers on one OVH VPS-5 ($40.40): at $9 MRR $720 and break-even 5; under the 50 %
// launch coupon $4.50 each, MRR $360 and break-even ⌈40.40 ÷ 4.50⌉ = 9.
TEST(RevenueTest, PlanAndCouponGiveFullAndLaunchFigures) {
  Workload w;
  w.customers = 80;
  w.devices_per_customer = 1;
  w.engine = "webjs";
  w.price_plan = "basic";
  w.coupon = "launch50";
  const Plan p = PlanOf(w);
  ASSERT_TRUE(p.revenue.has_value());
  const Revenue& r = *p.revenue;
  EXPECT_DOUBLE_EQ(p.monthly_usd, 40.40);
  EXPECT_EQ(r.plan, "basic");
  EXPECT_DOUBLE_EQ(r.mrr_usd, 720);
  EXPECT_NEAR(r.margin_usd, 679.60, 1e-9);
  EXPECT_EQ(r.break_even_customers, 5);
  ASSERT_TRUE(r.launch.has_value());
  EXPECT_EQ(r.coupon, "launch50");
  EXPECT_EQ(r.coupon_months, 3);
  EXPECT_DOUBLE_EQ(r.launch->price_per_customer_month, 4.5);
  EXPECT_DOUBLE_EQ(r.launch->mrr_usd, 360);
  EXPECT_EQ(r.launch->break_even_customers, 9);
  // Every plan compared at the same customers and cost.
  const Pricing& pricing = Catalog::Embedded().pricing();
  ASSERT_EQ(r.by_plan.size(), pricing.plans.size());
  for (std::size_t i = 0; i < r.by_plan.size(); ++i) {
    EXPECT_EQ(r.by_plan[i].plan, pricing.plans[i].name);
    EXPECT_DOUBLE_EQ(r.by_plan[i].mrr_usd, 80 * pricing.plans[i].usd_per_customer_month);
    EXPECT_NEAR(r.by_plan[i].margin_usd, r.by_plan[i].mrr_usd - 40.40, 1e-9);
  }
  // Batch rows carry only their own plan.
  EXPECT_TRUE(PlanOf(w, {.compare_plans = false}).revenue->by_plan.empty());
}

TEST(RevenueTest, ACouponThatDoesNotPayTheServersIsWarnedAbout) {
  Workload w;
  w.customers = 1;  // $4.50 against the cheapest host's $4.59
  w.price_plan = "basic";
  w.coupon = "launch50";
  const Plan p = PlanOf(w);
  ASSERT_TRUE(p.revenue->launch.has_value());
  ASSERT_LT(p.revenue->launch->margin_usd, 0) << p.monthly_usd;
  bool warned = false;
  for (const std::string& warning : p.warnings) {
    warned =
        warned ||
        warning.rfind("coupon launch50: 1 customer at $4.50 covers $4.50 of the $4.59", 0) == 0;
  }
  EXPECT_TRUE(warned);
}

TEST(RevenueTest, BadCombinationsNameTheField) {
  auto error = [](Workload w) -> std::string {
    w.customers = 5;
    try {
      ValidateWorkload(w, Catalog::Embedded());
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  };
  Workload both;
  both.price_plan = "basic";
  both.price_per_customer_month = 5;
  EXPECT_EQ(error(both).rfind("price_plan: give either", 0), 0U);
  Workload unknown;
  unknown.price_plan = "gold";
  EXPECT_EQ(error(unknown), "price_plan: unknown 'gold' (expected one of: basic, pro, business)");
  Workload no_price;
  no_price.coupon = "launch50";
  EXPECT_EQ(error(no_price).rfind("coupon: needs a price", 0), 0U);
  Workload wrong_plan;
  wrong_plan.price_plan = "pro";
  wrong_plan.coupon = "launch50";
  EXPECT_EQ(error(wrong_plan), "coupon: 'launch50' applies only to the plans basic, not to pro");
  Workload own_price;
  own_price.price_per_customer_month = 12;
  own_price.coupon = "launch50";
  EXPECT_NE(error(own_price).find("not to a price of your own"), std::string::npos);
}

}  // namespace
}  // namespace crm::planner
