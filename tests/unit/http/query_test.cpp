#include "crm/http/query.hpp"

#include <gtest/gtest.h>

#include "crm/error.hpp"

namespace crm::http {
namespace {

TEST(QueryTest, ReadsAndDecodesParameters) {
  EXPECT_EQ(QueryParam("/api/contacts?q=ana%20m&cursor=7", "q"), "ana m");
  EXPECT_EQ(QueryParam("/api/contacts?q=ana+m", "q"), "ana m");
  EXPECT_EQ(QueryParam("/api/contacts?cursor=7", "q"), std::nullopt);
  EXPECT_EQ(QueryParam("/api/contacts?q", "q"), "");
  EXPECT_EQ(TargetPath("/api/contacts?q=1"), "/api/contacts");
  EXPECT_THROW(PercentDecode("%zz"), InputError);
  EXPECT_THROW(PercentDecode("abc%4"), InputError);
}

TEST(QueryTest, ANulCharacterIsRefusedNamingTheParameter) {
  try {
    QueryParam("/api/contacts?q=ana%00x", "q");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "q");
  }
  EXPECT_EQ(QueryParam("/api/contacts?q=ana%00x&cursor=7", "cursor"), "7");
}

}  // namespace
}  // namespace crm::http
