#include "crm/units.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "crm/error.hpp"

namespace crm {
namespace {

TEST(ParseBytesTest, DecimalAndBinaryUnits) {
  EXPECT_DOUBLE_EQ(ParseBytes("80 KB"), 80'000);
  EXPECT_DOUBLE_EQ(ParseBytes("17.5 MB"), 17'500'000);
  EXPECT_DOUBLE_EQ(ParseBytes("2GB"), 2e9);
  EXPECT_DOUBLE_EQ(ParseBytes("4 GiB"), 4.0 * 1024 * 1024 * 1024);
  EXPECT_DOUBLE_EQ(ParseBytes("1 KiB"), 1024);
  EXPECT_DOUBLE_EQ(ParseBytes("150 B"), 150);
  EXPECT_DOUBLE_EQ(ParseBytes(" 0 B "), 0);
}

TEST(ParseBytesTest, RejectsMissingWrongOrMisspelledUnits) {
  EXPECT_THROW(ParseBytes("80"), InputError);
  EXPECT_THROW(ParseBytes("2 MBs"), InputError);
  EXPECT_THROW(ParseBytes("2 mb"), InputError);
  EXPECT_THROW(ParseBytes("-2 MB"), InputError);
  EXPECT_THROW(ParseBytes(""), InputError);
  EXPECT_THROW(ParseBytes("MB"), InputError);
  EXPECT_THROW(ParseBytes("1e3 KB"), InputError);
  EXPECT_THROW(ParseBytes("99999999999999 TB"), InputError);
}

TEST(ParseBytesTest, MessageSaysWhatWasExpected) {
  try {
    ParseBytes("2 MBs");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown unit \"MBs\""), std::string::npos) << e.what();
  }
}

TEST(ParseNumberTest, AcceptsFiniteNumbersOnly) {
  EXPECT_DOUBLE_EQ(ParseNumber("0.2"), 0.2);
  EXPECT_DOUBLE_EQ(ParseNumber("-3"), -3);
  EXPECT_DOUBLE_EQ(ParseNumber("+4"), 4);
  EXPECT_THROW(ParseNumber("nan"), InputError);
  EXPECT_THROW(ParseNumber("inf"), InputError);
  EXPECT_THROW(ParseNumber("12x"), InputError);
  EXPECT_THROW(ParseNumber(""), InputError);
}

TEST(ParseCountTest, AcceptsNonNegativeWholeNumbers) {
  EXPECT_EQ(ParseCount("42"), 42);
  EXPECT_EQ(ParseCount(" 7 "), 7);
  EXPECT_THROW(ParseCount("-1"), InputError);
  EXPECT_THROW(ParseCount("1.5"), InputError);
  EXPECT_THROW(ParseCount("99999999999999999999999"), InputError);
  EXPECT_THROW(ParseCount("twelve"), InputError);
  // The digits-only shortcut and from_chars' path agree at the 18/19-digit boundary.
  EXPECT_EQ(ParseCount("+5"), 5);
  EXPECT_EQ(ParseCount("007"), 7);
  EXPECT_EQ(ParseCount("999999999999999999"), 999'999'999'999'999'999);
  EXPECT_EQ(ParseCount("9223372036854775807"), 9'223'372'036'854'775'807);
  EXPECT_THROW(ParseCount("9223372036854775808"), InputError);
  EXPECT_THROW(ParseCount("+"), InputError);
  EXPECT_THROW(ParseCount("++5"), InputError);
  EXPECT_THROW(ParseCount("+-5"), InputError);
  EXPECT_THROW(ParseCount("12x"), InputError);
  EXPECT_THROW(ParseCount(""), InputError);
}

TEST(ParseBoolTest, AcceptsCommonSpellings) {
  EXPECT_TRUE(ParseBool("true"));
  EXPECT_TRUE(ParseBool("YES"));
  EXPECT_TRUE(ParseBool("1"));
  EXPECT_FALSE(ParseBool("false"));
  EXPECT_FALSE(ParseBool("no"));
  EXPECT_THROW(ParseBool("maybe"), InputError);
}

TEST(FormatTest, ReadableNumbers) {
  EXPECT_EQ(FormatBytes(20e6), "20 MB");
  EXPECT_EQ(FormatBytes(2.0358e9), "2.04 GB");
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(4.0 * 1024 * 1024 * 1024), "4 GiB");
  EXPECT_EQ(FormatNumber(1234567), "1,234,567");
  EXPECT_EQ(FormatNumber(0.0579, 2), "0.06");
  EXPECT_EQ(FormatUsd(1234.5), "$1,234.50");
  EXPECT_EQ(FormatUsd(24), "$24.00");
}

// FormatNumber and FormatUsd take an integer shortcut where it cannot round differently from
// fmt's exact conversion; this checks it against fmt on ties, near-ties and random magnitudes.
TEST(FormatTest, NumbersMatchFmtsExactRounding) {
  const auto reference = [](double v, int decimals) {
    std::string digits = fmt::format("{:.{}f}", std::fabs(v), decimals);
    if (digits.find('.') != std::string::npos) {
      while (digits.back() == '0') {
        digits.pop_back();
      }
      if (digits.back() == '.') {
        digits.pop_back();
      }
    }
    return (v < 0 && digits != "0" ? "-" : "") + digits;
  };
  const auto without_commas = [](std::string s) {
    std::erase(s, ',');
    return s;
  };
  std::vector<double> values = {0,     0.5,   1.5,  2.5,     0.125,  0.375,   2.675,  1.005,
                                1.015, 0.045, 1e-5, 9.99995, 12.345, 1234.5,  -0.004, -2.5,
                                1e11,  1e12,  5e15, 1e300,   -1e-9,  0.12345, 99.995, 0.0579};
  std::mt19937_64 random(42);
  for (int i = 0; i < 20000; ++i) {
    const double magnitude = std::pow(10.0, std::uniform_real_distribution<double>(-6, 14)(random));
    values.push_back(i % 2 == 0 ? magnitude : -magnitude);
    // Exact ties at every precision: halves of the last digit.
    values.push_back(static_cast<double>(random() % 100000) / 16);
  }
  for (const double v : values) {
    for (int decimals = 0; decimals <= 5; ++decimals) {
      ASSERT_EQ(without_commas(FormatNumber(v, decimals)), reference(v, decimals))
          << fmt::format("{:.17g} at {} decimals", v, decimals);
    }
    ASSERT_EQ(without_commas(FormatUsd(v)),
              fmt::format("{}${:.2f}", v < 0 ? "-" : "", std::fabs(v)))
        << fmt::format("{:.17g}", v);
  }
}

TEST(UnitsTest, AgesKeepTwoDigitsOfTheirUnit) {
  EXPECT_EQ(FormatAge(-5), "0 s");
  EXPECT_EQ(FormatAge(119), "119 s");
  EXPECT_EQ(FormatAge(120), "2 min");
  EXPECT_EQ(FormatAge(2 * 3600 - 1), "119 min");
  EXPECT_EQ(FormatAge(30 * 3600), "30 h");
  EXPECT_EQ(FormatAge(9 * 86400 + 5), "9 d");
}

TEST(UnitsTest, DurationsTakeUnits) {
  EXPECT_EQ(ParseDuration("500ms"), std::chrono::milliseconds(500));
  EXPECT_EQ(ParseDuration("2m"), std::chrono::minutes(2));
  EXPECT_EQ(ParseDuration("30"), std::chrono::seconds(30));
  EXPECT_THROW(ParseDuration(""), InputError);
  EXPECT_THROW(ParseDuration("-1s"), InputError);
  EXPECT_THROW(ParseDuration("99999999999999h"), InputError);
}

}  // namespace
}  // namespace crm
