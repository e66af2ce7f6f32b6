#include "crm/units.hpp"

#include <gtest/gtest.h>

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
