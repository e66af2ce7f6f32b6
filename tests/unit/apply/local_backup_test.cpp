#include "crm/apply/local_backup.hpp"

#include <gtest/gtest.h>

#include "crm/error.hpp"

namespace crm::apply {
namespace {

TEST(RecoveryTimeTest, ReadsTheZoneAndKeepsTheFormPostgresReads) {
  const RecoveryTime utc = ParseRecoveryTime("2026-11-30 08:50:00+00");
  EXPECT_DOUBLE_EQ(utc.epoch, 1796028600.0);
  EXPECT_EQ(utc.text, "2026-11-30 08:50:00+00");
  const RecoveryTime z = ParseRecoveryTime("2026-11-30T08:50:00.250Z");
  EXPECT_DOUBLE_EQ(z.epoch, 1796028600.25);
  EXPECT_EQ(z.text, "2026-11-30 08:50:00.250+00");
  // 09:50 at +01:00 is 08:50 UTC; 03:20 at -05:30 is 08:50 UTC.
  EXPECT_DOUBLE_EQ(ParseRecoveryTime("2026-11-30 09:50:00+01:00").epoch, 1796028600.0);
  EXPECT_DOUBLE_EQ(ParseRecoveryTime("2026-11-30 03:20:00-0530").epoch, 1796028600.0);
}

TEST(RecoveryTimeTest, RefusesATimeWithoutZoneOrThatIsNoTime) {
  for (const char* bad : {"2026-11-30 08:50:00", "yesterday", "2026-13-01 00:00:00+00",
                          "2026-11-30 25:00:00Z", "2026-11-30 08:50+00", ""}) {
    try {
      ParseRecoveryTime(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const InputError& e) {
      EXPECT_EQ(e.field(), "time") << bad;
      EXPECT_NE(std::string(e.what()).find("--time:"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace crm::apply
