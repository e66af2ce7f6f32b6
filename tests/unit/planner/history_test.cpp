#include "crm/planner/history.hpp"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <sstream>
#include <string>

#include "crm/error.hpp"

namespace crm::planner {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

GrowthFit Fit(const std::string& csv) {
  std::istringstream in(csv);
  return FitGrowthHistory(in, "history.csv");
}

std::string ErrorOf(const std::string& csv) {
  try {
    Fit(csv);
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected InputError for:\n" << csv;
  return {};
}

TEST(HistoryTest, ExactTwentyPercentSeriesGivesTwentyPercent) {
  std::string csv = "month,customers\n";
  for (int m = 0; m < 12; ++m) {
    csv += fmt::format("2024-{:02},{}\n", m + 1, 50 * std::pow(1.2, m));
  }
  const GrowthFit fit = Fit(csv);
  EXPECT_NEAR(fit.rate_per_month, 0.20, 1e-9);
  EXPECT_NEAR(fit.r_squared, 1, 1e-12);
  EXPECT_EQ(fit.months, 12u);
}

TEST(HistoryTest, NoisySeriesGivesCloseRate) {
  std::mt19937 rng(2024);
  std::normal_distribution<double> noise(0, 0.05);  // ±5 % month to month
  std::string csv = "customers\n";
  for (int m = 0; m < 24; ++m) {
    csv += fmt::format("{}\n", std::round(40 * std::pow(1.1, m) * std::exp(noise(rng))));
  }
  const GrowthFit fit = Fit(csv);
  EXPECT_NEAR(fit.rate_per_month, 0.10, 0.01);
  EXPECT_GT(fit.r_squared, 0.95);
  EXPECT_LT(fit.r_squared, 1);
  EXPECT_EQ(fit.months, 24u);
}

TEST(HistoryTest, ShrinkingCustomersGiveNegativeRate) {
  const GrowthFit fit = Fit("customers\n100\n90\n81\n72.9\n");
  EXPECT_NEAR(fit.rate_per_month, -0.10, 1e-9);
}

TEST(HistoryTest, FlatHistoryIsZeroGrowthFittedPerfectly) {
  const GrowthFit fit = Fit("customers\n30\n30\n30\n");
  EXPECT_NEAR(fit.rate_per_month, 0, 1e-12);
  EXPECT_EQ(fit.r_squared, 1);
}

TEST(HistoryTest, IgnoresOtherColumnsAndKeepsFileOrder) {
  // Month labels are free text; rows are taken oldest first as written.
  const GrowthFit fit =
      Fit("month,customers,notes\nJan,100,\"launch, beta\"\nFeb,200,\nMar,400,x\n");
  EXPECT_NEAR(fit.rate_per_month, 1.0, 1e-9);
}

TEST(HistoryTest, RefusesFewerThanThreeMonths) {
  const std::string message = ErrorOf("month,customers\nJan,10\nFeb,12\n");
  EXPECT_THAT(message, StartsWith("history.csv: 2 month(s)"));
  EXPECT_THAT(message, HasSubstr("at least 3"));
}

TEST(HistoryTest, RefusesZeroCustomersAndExplainsWhy) {
  const std::string message = ErrorOf("month,customers\nJan,5\nFeb,0\nMar,8\n");
  EXPECT_THAT(message, StartsWith("history.csv:3: customers: got 0;"));
  EXPECT_THAT(message, HasSubstr("log scale"));
  EXPECT_THAT(message, HasSubstr("first month with customers"));
}

TEST(HistoryTest, RefusesNegativeCustomers) {
  EXPECT_THAT(ErrorOf("customers\n5\n-3\n8\n"), StartsWith("history.csv:3: customers: got -3;"));
}

TEST(HistoryTest, BadCellErrorCarriesFileAndLine) {
  EXPECT_EQ(ErrorOf("customers\n5\n6\n7x\n"),
            "history.csv:4: customers: expected a positive number, got \"7x\"");
  EXPECT_EQ(ErrorOf("month,customers\nJan,5\nFeb,\n"),
            "history.csv:3: customers: empty cell; expected the number of customers that month");
  EXPECT_EQ(ErrorOf("month,customers\nJan\n"),
            "history.csv:2: expected 2 fields as in the header, got 1");
}

TEST(HistoryTest, MissingCustomersColumnIsAnError) {
  EXPECT_THAT(ErrorOf("month,clients\nJan,5\n"),
              StartsWith("history.csv:1: customers: missing column"));
}

TEST(HistoryTest, EmptyFileIsAnError) {
  EXPECT_THAT(ErrorOf(""), StartsWith("history.csv:1: empty file"));
}

}  // namespace
}  // namespace crm::planner
