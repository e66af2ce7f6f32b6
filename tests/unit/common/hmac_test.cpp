#include "crm/hmac.hpp"

#include <gtest/gtest.h>

namespace crm {
namespace {

// RFC 4231, test cases 2 and 1.
TEST(HmacTest, MatchesRfc4231) {
  EXPECT_EQ(HmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(HmacSha256Hex(std::string(20, '\x0b'), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

TEST(HmacTest, DependsOnKeyAndData) {
  EXPECT_NE(HmacSha256Hex("a", "x"), HmacSha256Hex("b", "x"));
  EXPECT_NE(HmacSha256Hex("a", "x"), HmacSha256Hex("a", "y"));
  EXPECT_EQ(HmacSha256Hex("", "").size(), 64u);
}

}  // namespace
}  // namespace crm
