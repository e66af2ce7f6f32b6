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

TEST(ContactInputTest, AContactIdIsAPositiveWholeNumber) {
  EXPECT_EQ(ContactIdField(nlohmann::json::parse(R"({"contact_id":7})")), 7);
  for (const char* bad :
       {R"({})", R"({"contact_id":0})", R"({"contact_id":"7"})", R"({"contact_id":1.5})"}) {
    try {
      ContactIdField(nlohmann::json::parse(bad));
      ADD_FAILURE() << bad;
    } catch (const InputError& e) {
      EXPECT_EQ(e.field(), "contact_id");
    }
  }
}

}  // namespace
}  // namespace crm::slice
