#include "crm/planner/workload.hpp"

#include <gtest/gtest.h>

#include "crm/error.hpp"
#include "crm/planner/catalog.hpp"

namespace crm::planner {
namespace {

std::string ErrorOf(std::string_view yaml) {
  try {
    ParseWorkloadYaml(yaml, "workload.yaml");
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

TEST(WorkloadTest, DefaultsFollowTheSpec) {
  const Workload w;
  EXPECT_EQ(w.devices_per_customer, 2);
  EXPECT_EQ(w.messages_per_customer_day, 100);
  EXPECT_EQ(w.dashboard_tabs_per_customer, 2);
  EXPECT_EQ(w.retention_days, 365);
  EXPECT_EQ(w.engine, "whatsmeow");
  EXPECT_EQ(w.horizon_months, 12);
  EXPECT_DOUBLE_EQ(w.peak_factor, 10);
  EXPECT_FALSE(w.price_per_customer_month.has_value());
  EXPECT_EQ(w.regions, 1);
}

TEST(WorkloadTest, ParsesEveryKeyFromYaml) {
  const Workload w = ParseWorkloadYaml(
      "customers: 40\ndevices_per_customer: 3\nmessages_per_customer_day: 200\n"
      "dashboard_tabs_per_customer: 1\npeak_pending_tasks: 100000\nretention_days: 90\n"
      "engine: noweb\ngrowth_per_month: 0.2\nhorizon_months: 24\npeak_factor: 5\n"
      "price_per_customer_month: 29\nha: true\nregions: 2\n",
      "w.yaml");
  EXPECT_EQ(w.customers, 40);
  EXPECT_EQ(w.devices_per_customer, 3);
  EXPECT_EQ(w.peak_pending_tasks, 100'000);
  EXPECT_EQ(w.engine, "noweb");
  EXPECT_DOUBLE_EQ(w.growth_per_month, 0.2);
  EXPECT_DOUBLE_EQ(*w.price_per_customer_month, 29);
  EXPECT_TRUE(w.ha);
  EXPECT_EQ(w.regions, 2);
}

TEST(WorkloadTest, ErrorsNameFileLineColumnAndField) {
  EXPECT_EQ(
      ErrorOf("customers: 10\ndevices_per_customr: 2\n"),
      "workload.yaml:2:1: unknown key 'devices_per_customr' (expected one of: customers, "
      "devices_per_customer, messages_per_customer_day, dashboard_tabs_per_customer, "
      "peak_pending_tasks, retention_days, engine, growth_per_month, horizon_months, "
      "peak_factor, price_per_customer_month, price_plan, coupon, ha, regions, swap, idle_share, "
      "replica, backups)");
  EXPECT_EQ(ErrorOf("customers: -5\n"),
            "workload.yaml:1:12: customers: expected a non-negative whole number, got \"-5\"");
  EXPECT_EQ(ErrorOf("customers: 1000000000000\n"),
            "workload.yaml:1:12: customers: 1000000000000 is out of range (expected 1 to "
            "10,000,000)");
  EXPECT_EQ(ErrorOf("customers: 12x\n"),
            "workload.yaml:1:12: customers: expected a whole number, got \"12x\"");
  EXPECT_EQ(ErrorOf("customers: 10\ngrowth_per_month: .nan\n"),
            "workload.yaml:2:19: growth_per_month: expected a number, got \".nan\"");
  EXPECT_EQ(ErrorOf("customers: [1, 2]\n"),
            "workload.yaml:1:12: customers: expected a single value");
  EXPECT_EQ(ErrorOf("- 1\n- 2\n"),
            "workload.yaml:1:1: workload: expected a mapping of keys such as customers: 50");
  EXPECT_NE(ErrorOf("").find("empty workload file"), std::string::npos);
  EXPECT_NE(ErrorOf("customers: 10\n  bad: [\n").find("invalid YAML"), std::string::npos);
}

TEST(WorkloadTest, ValidateNeedsCustomersAndAKnownEngine) {
  Workload w;
  EXPECT_THROW(ValidateWorkload(w, Catalog::Embedded()), InputError);
  w.customers = 5;
  w.engine = "baileys";
  try {
    ValidateWorkload(w, Catalog::Embedded());
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(
        e.what(),
        "engine: unknown 'baileys' (expected one of: whatsmeow, noweb, webjs, cloud-api, crmd)");
  }
}

TEST(WorkloadTest, SetFieldRejectsOutOfRangeValues) {
  Workload w;
  EXPECT_THROW(SetWorkloadField(w, "customers", "0"), InputError);
  EXPECT_THROW(SetWorkloadField(w, "peak_factor", "0.5"), InputError);
  EXPECT_THROW(SetWorkloadField(w, "regions", "0"), InputError);
  EXPECT_THROW(SetWorkloadField(w, "growth_per_month", "-1"), InputError);
  EXPECT_THROW(SetWorkloadField(w, "ha", "perhaps"), InputError);
  EXPECT_THROW(SetWorkloadField(w, "colour", "red"), InputError);
  SetWorkloadField(w, "customers", "5000");
  EXPECT_EQ(w.customers, 5000);
}

}  // namespace
}  // namespace crm::planner
