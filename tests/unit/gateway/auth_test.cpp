#include "crm/gateway/auth.hpp"

#include <gtest/gtest.h>
#include <sodium.h>

#include <set>

#include "crm/error.hpp"

namespace crm::gateway {
namespace {

TEST(AuthTest, PasswordsAreArgon2idHashesThatVerify) {
  ASSERT_GE(sodium_init(), 0);
  std::string hash = HashPassword("correct horse battery");
  EXPECT_EQ(hash.rfind("$argon2id$", 0), 0u) << hash;
  EXPECT_TRUE(VerifyPassword("correct horse battery", hash));
  EXPECT_FALSE(VerifyPassword("correct horse batterY", hash));
  EXPECT_NE(HashPassword("correct horse battery"), hash) << "salted";
}

TEST(AuthTest, TokensAre256RandomBitsAndOnlyTheirHashIsKept) {
  ASSERT_GE(sodium_init(), 0);
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string token = NewToken();
    EXPECT_EQ(token.size(), 43u);
    EXPECT_EQ(
        token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
        std::string::npos);
    EXPECT_TRUE(seen.insert(token).second);
  }
  EXPECT_EQ(TokenHash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(AuthTest, EmailsAreLowerCasedAndChecked) {
  EXPECT_EQ(NormalizeEmail("Ana@Example.COM"), "ana@example.com");
  for (const char* bad : {"", "ana", "@example.com", "ana@", "ana@example", "a b@example.com",
                          "a@b@example.com", "ana@example.com.", "<x>@example.com"}) {
    EXPECT_THROW(NormalizeEmail(bad), InputError) << bad;
  }
  EXPECT_THROW(CheckPassword("short"), InputError);
  EXPECT_NO_THROW(CheckPassword("ten chars!"));
}

}  // namespace
}  // namespace crm::gateway
