#include "crm/gateway/price_plan.hpp"

#include <gtest/gtest.h>

namespace crm::gateway {
namespace {

TEST(PricePlanTest, TheLaunchPriceIsTheDiscountedListPriceRoundedToTheCent) {
  PricePlan plan;
  EXPECT_EQ(plan.LaunchMonthlyCents(), 450);  // $9 at 50 % off
  plan.monthly_cents = 999;
  plan.launch_discount_percent = 33;
  EXPECT_EQ(plan.LaunchMonthlyCents(), 669);  // 669.33
  plan.monthly_cents = 5;
  plan.launch_discount_percent = 50;
  EXPECT_EQ(plan.LaunchMonthlyCents(), 3);  // 2.5 rounds up
  plan.launch_discount_percent = 0;
  EXPECT_EQ(plan.LaunchMonthlyCents(), 5);
  plan.launch_discount_percent = 100;
  EXPECT_EQ(plan.LaunchMonthlyCents(), 0);
}

TEST(PricePlanTest, ItsJsonCarriesBothPrices) {
  auto json = PlanJson(PricePlan{});
  EXPECT_EQ(json["name"], "Workspace");
  EXPECT_EQ(json["currency"], "USD");
  EXPECT_EQ(json["monthly_cents"], 900);
  EXPECT_EQ(json["launch_monthly_cents"], 450);
  EXPECT_EQ(json["launch_discount_percent"], 50);
}

}  // namespace
}  // namespace crm::gateway
