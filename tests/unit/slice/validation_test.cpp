#include "crm/slice/validation.hpp"

#include <gtest/gtest.h>

#include "crm/error.hpp"

namespace crm::slice {
namespace {

TEST(PhoneTest, NormalisesToE164) {
  EXPECT_EQ(NormalizePhone("+1 (415) 555-0123"), "+14155550123");
  EXPECT_EQ(NormalizePhone("+55 11 98765.4321"), "+5511987654321");
  for (const char* bad : {"", "4155550123", "+0123456789", "+1234", "+1234567890123456",
                          "+1 415 CALL NOW", "++14155550123"}) {
    EXPECT_THROW(NormalizePhone(bad), InputError) << bad;
  }
}

TEST(ContactInputTest, RequiresNameAndPhoneAndRefusesUnknownFields) {
  auto ok =
      ParseContact(nlohmann::json::parse(
                       R"({"name":"Ana","phone":"+447700900123","tags":["vip","vip","lead"]})"),
                   false);
  EXPECT_EQ(*ok.name, "Ana");
  EXPECT_EQ(ok.tags->size(), 2u) << "duplicates dropped";
  EXPECT_THROW(ParseContact(nlohmann::json::parse(R"({"name":"Ana"})"), false), InputError);
  EXPECT_THROW(
      ParseContact(nlohmann::json::parse(R"({"name":"Ana","phone":"+447700900123","nmae":1})"),
                   false),
      InputError);
  EXPECT_THROW(
      ParseContact(nlohmann::json::parse(R"({"name":"Ana","phone":"+447700900123","tags":"vip"})"),
                   false),
      InputError);
  EXPECT_THROW(ParseContact(nlohmann::json::parse(R"({})"), true), InputError)
      << "PATCH with nothing";
  auto patch = ParseContact(nlohmann::json::parse(R"({"tags":[]})"), true);
  EXPECT_FALSE(patch.name);
  EXPECT_TRUE(patch.tags && patch.tags->empty());
}

TEST(ContactInputTest, IdsAndLimitsArePositiveAndBounded) {
  EXPECT_EQ(ParseId("42", "id"), 42);
  for (const char* bad : {"", "0", "-1", "1e3", "42abc", "99999999999999999999"}) {
    EXPECT_THROW(ParseId(bad, "id"), InputError) << bad;
  }
  EXPECT_EQ(ParseLimit(std::nullopt), 50);
  EXPECT_EQ(ParseLimit("100"), 100);
  EXPECT_THROW(ParseLimit("101"), InputError);
}

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

}  // namespace
}  // namespace crm::slice
