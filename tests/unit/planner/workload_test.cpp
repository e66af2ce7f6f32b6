#include "crm/planner/workload.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

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

TEST(WorkloadTest, EveryKeyResolvesToAFieldThatSetsAndResetsIt) {
  EXPECT_EQ(FindWorkloadField("name"), WorkloadField::kName);
  EXPECT_EQ(FindWorkloadField("customers"), WorkloadField::kCustomers);
  EXPECT_EQ(FindWorkloadField("backups"), WorkloadField::kBackups);
  EXPECT_FALSE(FindWorkloadField("colour").has_value());
  EXPECT_FALSE(FindWorkloadField("Customers").has_value());
  // A value of every key, unlike its default: set by the resolved field it must equal what the
  // key's text sets, and reset it must equal the defaults again.
  const std::pair<std::string_view, std::string_view> values[] = {
      {"customers", "77"},
      {"devices_per_customer", "5"},
      {"messages_per_customer_day", "321"},
      {"dashboard_tabs_per_customer", "4"},
      {"peak_pending_tasks", "900"},
      {"retention_days", "30"},
      {"engine", "noweb"},
      {"growth_per_month", "0.25"},
      {"horizon_months", "24"},
      {"peak_factor", "3.5"},
      {"price_per_customer_month", "19.5"},
      {"price_plan", "pro"},
      {"coupon", "launch50"},
      {"ha", "true"},
      {"regions", "2"},
      {"swap", "true"},
      {"idle_share", "0.4"},
      {"replica", "yes"},
      {"backups", "local"},
  };
  ASSERT_EQ(std::size(values), WorkloadKeys().size());
  const Workload defaults;
  Workload by_key;
  Workload by_field;
  SetWorkloadField(by_key, "name", "Acme");
  SetWorkloadField(by_field, *FindWorkloadField("name"), "Acme");
  for (const auto& [key, value] : values) {
    const std::optional<WorkloadField> field = FindWorkloadField(key);
    ASSERT_TRUE(field.has_value()) << key;
    SetWorkloadField(by_key, key, value);
    SetWorkloadField(by_field, *field, value);
  }
  const auto dump = [](const Workload& w) {
    return fmt::format("{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}", w.name,
                       w.customers, w.devices_per_customer, w.messages_per_customer_day,
                       w.dashboard_tabs_per_customer, w.peak_pending_tasks, w.retention_days,
                       w.engine, w.growth_per_month, w.horizon_months, w.peak_factor,
                       w.price_per_customer_month.value_or(-1), w.price_plan, w.coupon, w.ha,
                       w.regions, w.swap, w.idle_share.value_or(-1), w.replica, w.backups);
  };
  EXPECT_EQ(dump(by_field), dump(by_key));
  EXPECT_EQ(
      dump(by_field),
      "Acme|77|5|321|4|900|30|noweb|0.25|24|3.5|19.5|pro|launch50|true|2|true|0.4|true|local");
  for (const auto& [key, value] : values) {
    ResetWorkloadField(by_field, *FindWorkloadField(key), defaults);
  }
  ResetWorkloadField(by_field, WorkloadField::kName, defaults);
  EXPECT_EQ(dump(by_field), dump(defaults));
  // Errors name the key as the text form does.
  try {
    SetWorkloadField(by_field, WorkloadField::kRetentionDays, "0");
    ADD_FAILURE() << "retention_days 0 was accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("retention_days: ", 0), 0U) << e.what();
  }
}

}  // namespace
}  // namespace crm::planner
