#include "crm/slice/recipients.hpp"

#include <gtest/gtest.h>

#include "crm/channel/channel.hpp"
#include "crm/error.hpp"
#include "crm/http/protocol_error.hpp"

namespace crm::slice {
namespace {

using nlohmann::json;

std::string ErrorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

TEST(Recipients, JsonListsAreNormalisedAndDeduplicatedInOrder) {
  auto r = ParseRecipients(json{"+1 415 555 0100", "+44 (7700) 900-123", "+14155550100"});
  EXPECT_EQ(r, (std::vector<std::string>{"+14155550100", "+447700900123"}));
  // Told apart by all their digits: one number that starts another is a number of its own.
  EXPECT_EQ(ParseRecipients(json{"+14155550100", "+1415555010", "+141555501000", "+1415555010"}),
            (std::vector<std::string>{"+14155550100", "+1415555010", "+141555501000"}));
}

TEST(Recipients, EveryBadJsonEntryIsNamedByIndexAndNothingIsKept) {
  std::string e = ErrorOf([] { ParseRecipients(json{"+14155550100", 7, "abc", "+1"}); });
  EXPECT_NE(e.find("3 invalid recipient(s)"), std::string::npos) << e;
  EXPECT_NE(e.find("recipients[1]"), std::string::npos) << e;
  EXPECT_NE(e.find("recipients[2]"), std::string::npos) << e;
  EXPECT_NE(e.find("recipients[3]"), std::string::npos) << e;
  EXPECT_NE(ErrorOf([] { ParseRecipients(json("+14155550100")); }).find("expected an array"),
            std::string::npos);
  json many = json::array();
  for (int i = 0; i < 25; ++i) {
    many.push_back("x");
  }
  EXPECT_NE(ErrorOf([&] { ParseRecipients(many); }).find("(and 15 more)"), std::string::npos);
}

TEST(Recipients, CsvWithAHeaderUsesThePhoneColumnAndQuotes) {
  auto r = ParseRecipientsCsv(
      "\xEF\xBB\xBF"
      "Name,Mobile,City\r\n\"Smith, Ana\",+14155550100,\"SF\"\r\n\r\nBob,+14155550101,NY\n");
  EXPECT_EQ(r, (std::vector<std::string>{"+14155550100", "+14155550101"}));
  auto semicolons = ParseRecipientsCsv("name;phone\n\"a;b\";+447700900123\n");
  EXPECT_EQ(semicolons, std::vector<std::string>{"+447700900123"});
}

TEST(Recipients, CsvWithoutAHeaderIsOneNumberPerLine) {
  EXPECT_EQ(ParseRecipientsCsv("+14155550100\n+14155550101"),
            (std::vector<std::string>{"+14155550100", "+14155550101"}));
  EXPECT_TRUE(ParseRecipientsCsv("").empty());
  EXPECT_TRUE(ParseRecipientsCsv("\n\n  \n").empty());
}

TEST(Recipients, BadCsvRowsAreNamedByLine) {
  std::string e = ErrorOf([] { ParseRecipientsCsv("phone\n+14155550100\n\n12345\nBob,x\n"); });
  EXPECT_NE(e.find("line 4: phone"), std::string::npos) << e;
  EXPECT_NE(e.find("line 5: phone"), std::string::npos) << e;
  EXPECT_EQ(e.find("line 2"), std::string::npos) << e;
  std::string header = ErrorOf([] { ParseRecipientsCsv("name,city\nAna,SF\n"); });
  EXPECT_NE(header.find("none named phone"), std::string::npos) << header;
}

TEST(Template, DefaultsTheLanguageAndNamesTheBadField) {
  auto t = ParseTemplate(json{{"name", "order_ready"}, {"parameters", {"Ana", "#42"}}});
  EXPECT_EQ(t.name, "order_ready");
  EXPECT_EQ(t.language, "en_US");
  EXPECT_EQ(t.body_parameters, (std::vector<std::string>{"Ana", "#42"}));
  EXPECT_NE(ErrorOf([] {
              ParseTemplate(json{{"name", "x"}, {"language", "en-US"}});
            }).find("template.language"),
            std::string::npos);
  EXPECT_NE(ErrorOf([] {
              ParseTemplate(json{{"name", "x"}, {"parameters", json::array({""})}});
            }).find("template.parameters[0]"),
            std::string::npos);
  json eleven = json::array();
  for (int i = 0; i < 11; ++i) {
    eleven.push_back("p");
  }
  EXPECT_NE(ErrorOf([&] {
              ParseTemplate(json{{"name", "x"}, {"parameters", eleven}});
            }).find("at most 10"),
            std::string::npos);
  EXPECT_NE(ErrorOf([] {
              ParseTemplate(json{{"name", "x"}, {"lang", "en"}});
            }).find("template.lang"),
            std::string::npos);
  EXPECT_NE(ErrorOf([] { ParseTemplate(json("order_ready")); }).find("expected an object"),
            std::string::npos);
}

TEST(Recipients, MoreThanTheCapAreRefusedAsTooLargeWhileCounting) {
  EXPECT_NO_THROW(RefuseTooManyRecipients(R"({"name": "x", "recipients": ["1", "2", "3"]})", 3));
  try {
    RefuseTooManyRecipients(R"({"recipients": [["a"], {"b": [1, 2, 3, 4]}, 3, null]})", 3);
    FAIL();
  } catch (const http::TooLarge& e) {
    EXPECT_EQ(e.field(), "recipients");
    EXPECT_NE(std::string(e.what()).find("more than 3"), std::string::npos) << e.what();
  }
  // Only the top-level list counts; nested "recipients" and other lists do not.
  EXPECT_NO_THROW(RefuseTooManyRecipients(
      R"({"other": [1, 2, 3, 4], "template": {"recipients": [1, 2, 3, 4]}, "recipients": []})", 3));
  // A long list under another key would be built before the key is refused.
  std::string hidden = R"({"recipients": [], "other": [)";
  for (int i = 0; i < 200; ++i) {
    hidden += i ? ",1" : "1";
  }
  EXPECT_THROW(RefuseTooManyRecipients(hidden + "]}", 3), http::TooLarge);
  // What does not parse is left to the parse.
  EXPECT_NO_THROW(RefuseTooManyRecipients("{", 3));
  EXPECT_THROW(ParseRecipients(json{"+14155550100", "+14155550101"}, 1), http::TooLarge);
  std::string csv = "phone\n+14155550100\n+14155550101\n+14155550102\n";
  EXPECT_EQ(ParseRecipientsCsv(csv, 3).size(), 3u);
  try {
    ParseRecipientsCsv(csv, 2);
    FAIL();
  } catch (const http::TooLarge& e) {
    EXPECT_EQ(e.field(), "recipients");
    EXPECT_NE(std::string(e.what()).find("line 4: more than 2 recipients"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace crm::slice
