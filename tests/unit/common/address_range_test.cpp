#include "crm/address_range.hpp"

#include <gtest/gtest.h>

#include "crm/error.hpp"

namespace crm {
namespace {

TEST(AddressRangeTest, MatchesIpv4AndIpv6RangesByPrefix) {
  auto ten = AddressRange::Parse("10.0.0.0/8");
  EXPECT_TRUE(ten.Contains("10.255.1.2"));
  EXPECT_FALSE(ten.Contains("11.0.0.1"));
  EXPECT_TRUE(ten.Contains("::ffff:10.0.0.1")) << "an IPv4 peer on a dual-stack socket";
  auto odd = AddressRange::Parse("172.16.0.0/12");
  EXPECT_TRUE(odd.Contains("172.31.255.255"));
  EXPECT_FALSE(odd.Contains("172.32.0.0"));
  auto ula = AddressRange::Parse("fd00::/8");
  EXPECT_TRUE(ula.Contains("fd12:3456::1"));
  EXPECT_FALSE(ula.Contains("fe80::1"));
  EXPECT_FALSE(ula.Contains("10.0.0.1"));
  auto one = AddressRange::Parse("127.0.0.1");
  EXPECT_TRUE(one.Contains("127.0.0.1"));
  EXPECT_FALSE(one.Contains("127.0.0.2"));
  EXPECT_FALSE(one.Contains("unix"));
  EXPECT_FALSE(one.Contains(""));
  EXPECT_TRUE(AddressRange::Parse("0.0.0.0/0").Contains("203.0.113.9"));
}

TEST(AddressRangeTest, RefusesWhatIsNotAnAddressOrRange) {
  for (const char* bad : {"", "nginx", "10.0.0.0/33", "fd00::/129", "10.0.0.0/", "10.0.0.0/x",
                          "10.0.0.256", "10.0.0.0/8/8"}) {
    EXPECT_THROW(AddressRange::Parse(bad), InputError) << bad;
  }
}

TEST(AddressRangeTest, ParsesACommaListWithBlanks) {
  auto ranges = ParseAddressRanges(" 127.0.0.1 , ::1,10.0.0.0/8 ");
  ASSERT_EQ(ranges.size(), 3u);
  EXPECT_EQ(ranges[1].text(), "::1");
  EXPECT_TRUE(ParseAddressRanges("").empty());
  EXPECT_THROW(ParseAddressRanges("127.0.0.1,,::1"), InputError);
  EXPECT_TRUE(IsIpAddress("::1"));
  EXPECT_FALSE(IsIpAddress("localhost"));
}

}  // namespace
}  // namespace crm
