#include "crm/slice/contact_csv.hpp"

#include <gtest/gtest.h>

#include "crm/error.hpp"
#include "crm/http/protocol_error.hpp"

namespace crm::slice {
namespace {

std::string ErrorOf(std::string_view csv) {
  try {
    ParseContactsCsv(csv);
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

TEST(ContactsCsv, RowsAreValidatedLikeContactBodiesWithTagsSeparatedByBars) {
  auto contacts = ParseContactsCsv(
      "\xEF\xBB\xBFName;Mobile;Tags;Notes\r\n"
      "Ana;+1 415 555 0100;vip | lisbon|vip;x\r\n"
      "\r\n"
      "\"Bob \"\"B\"\"\";+44 7700 900123;;\r\n");
  ASSERT_EQ(contacts.size(), 2u);
  EXPECT_EQ(*contacts[0].name, "Ana");
  EXPECT_EQ(*contacts[0].phone, "+14155550100");
  EXPECT_EQ(*contacts[0].tags, (std::vector<std::string>{"vip", "lisbon"}));
  EXPECT_EQ(*contacts[1].name, "Bob \"B\"");
  EXPECT_EQ(*contacts[1].phone, "+447700900123");
  EXPECT_TRUE(contacts[1].tags->empty());
  // Without a tags column there are no tags.
  auto plain = ParseContactsCsv("phone,name\n+14155550100,Ana\n");
  ASSERT_EQ(plain.size(), 1u);
  EXPECT_FALSE(plain[0].tags.has_value());
}

TEST(ContactsCsv, EveryBadRowIsNamedByLineUpToTen) {
  std::string e = ErrorOf(
      "name,phone\n"
      "Ana,+14155550100\n"
      "Bob,12345\n"
      ",+14155550101\n"
      "Cy,+14155550102\n");
  EXPECT_NE(e.find("2 invalid row(s), nothing was imported"), std::string::npos) << e;
  EXPECT_NE(e.find("line 3: phone: expected an E.164 number"), std::string::npos) << e;
  EXPECT_NE(e.find("line 4: name: expected 1 to 200 characters"), std::string::npos) << e;
  std::string many = "name,phone\n";
  for (int i = 0; i < 25; ++i) {
    many += "X,bad\n";
  }
  e = ErrorOf(many);
  EXPECT_NE(e.find("(and 15 more)"), std::string::npos) << e;
  EXPECT_NE(ErrorOf("name,phone,tags\nAna,+14155550100,ok|" + std::string(51, 'a') + "\n")
                .find("line 2: tags: each tag must be a string of 1 to 50 characters"),
            std::string::npos);
  EXPECT_NE(ErrorOf("name,phone\n\xff\xfe,+14155550100\n").find("line 2: not valid UTF-8"),
            std::string::npos);
}

TEST(ContactsCsv, AHeaderRowWithANameAndAPhoneColumnIsRequired) {
  EXPECT_NE(ErrorOf("Ana,+14155550100\n").find("line 1: a header row naming the columns"),
            std::string::npos);
  EXPECT_NE(ErrorOf("name,tags\nAna,vip\n").find("a header row"), std::string::npos);
  EXPECT_NE(ErrorOf("").find("the file is empty"), std::string::npos);
  EXPECT_TRUE(ParseContactsCsv("name,phone\n").empty());
}

TEST(ContactsCsv, MoreRowsThanTheCapAreRefusedAsTooLargeAndNulByLine) {
  std::string csv = "name,phone\nAna,+14155550100\nBob,+14155550101\n";
  EXPECT_EQ(ParseContactsCsv(csv, 2).size(), 2u);
  EXPECT_THROW(ParseContactsCsv(csv, 1), http::TooLarge);
  EXPECT_NE(ErrorOf(std::string("name,phone\nAna\0x,+14155550100\n", 30))
                .find("line 2: name: contains a NUL"),
            std::string::npos);
}

}  // namespace
}  // namespace crm::slice
