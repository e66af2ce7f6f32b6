#include "crm/slice/page.hpp"

#include <gtest/gtest.h>

#include "crm/error.hpp"

namespace crm::slice {
namespace {

TEST(PageRequestTest, ReadsCursorAndLimitFromTheQuery) {
  auto first = ParsePage("/api/contacts");
  EXPECT_EQ(first.cursor, 0);
  EXPECT_EQ(first.limit, 50);
  auto next = ParsePage("/api/contacts?q=x&cursor=42&limit=10");
  EXPECT_EQ(next.cursor, 42);
  EXPECT_EQ(next.limit, 10);
  EXPECT_EQ(ParsePage("/api/contacts?cursor=").cursor, 0) << "an empty cursor is the first page";
  EXPECT_THROW(ParsePage("/api/contacts?cursor=-3"), InputError);
  EXPECT_THROW(ParsePage("/api/contacts?limit=0"), InputError);
}

TEST(PageJsonTest, AFullPageNamesTheNextCursor) {
  nlohmann::json two = {{{"id", 7}}, {{"id", 9}}};
  EXPECT_EQ(PageJson(two, 2)["next_cursor"], "9");
  EXPECT_TRUE(PageJson(two, 3)["next_cursor"].is_null()) << "a short page is the last";
  EXPECT_EQ(PageJson(nlohmann::json::array(), 5)["items"], nlohmann::json::array());
}

}  // namespace
}  // namespace crm::slice
