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

http::Request JsonPost(std::string body) {
  http::Request req;
  req.set(http::bhttp::field::content_type, "application/json");
  req.body() = std::move(body);
  return req;
}

BroadcastJson Read(std::string body, std::size_t max_rows = kUploadMaxRows) {
  return ReadBroadcastJson(JsonPost(std::move(body)), max_rows);
}

TEST(Recipients, MoreThanTheCapAreRefusedAsTooLargeWhileCounting) {
  EXPECT_EQ(
      Read(R"({"name": "x", "recipients": ["+14155550100", "+14155550101", "+14155550102"]})", 3)
          .TakeRecipients()
          .size(),
      3u);
  try {
    Read(R"({"recipients": [["a"], {"b": [1, 2, 3, 4]}, 3, null]})", 3);
    FAIL();
  } catch (const http::TooLarge& e) {
    EXPECT_EQ(e.field(), "recipients");
    EXPECT_NE(std::string(e.what()).find("more than 3"), std::string::npos) << e.what();
  }
  // Only the top-level list counts; nested "recipients" and other lists do not.
  EXPECT_NO_THROW(Read(
      R"({"other": [1, 2, 3, 4], "template": {"recipients": [1, 2, 3, 4]}, "recipients": []})", 3));
  // A long list under another key would be built before the key is refused.
  std::string hidden = R"({"recipients": [], "other": [)";
  for (int i = 0; i < 200; ++i) {
    hidden += i ? ",1" : "1";
  }
  EXPECT_THROW(Read(hidden + "]}", 3), http::TooLarge);
  // Counted as it is read: past the cap is refused before a syntax error further on.
  EXPECT_THROW(Read(R"({"recipients": ["1", "2", "3", "4"], oops)", 3), http::TooLarge);
  EXPECT_NE(ErrorOf([] { Read(R"({"recipients": ["1"], oops)", 3); }).find("malformed JSON"),
            std::string::npos);
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

// The one-pass reader against the document it replaces: every field but the list as nlohmann
// builds it, and the list's numbers and errors as ParseRecipients gives them from the document.
TEST(Recipients, TheOnePassReaderAgreesWithTheDocument) {
  const std::vector<std::string> bodies = {
      R"({"name": "n", "text": "t", "recipients": ["+1 415 555 0100", "+14155550100", "+44 7700 900123"]})",
      R"({"recipients": ["+14155550100", 7, null, true, ["+14155550101"], {"a": 1}, "abc", ""], "name": "n"})",
      R"({"recipients": ["+14155550100"], "recipients": ["+14155550101", "+14155550102"]})",
      R"({"recipients": ["+14155550100"], "recipients": "+14155550101"})",
      R"({"recipients": "+14155550101", "recipients": ["+14155550100"]})",
      R"({"template": {"name": "x", "parameters": ["a", "b"], "recipients": [1]}, "recipients": []})",
      R"({"tag": "vip", "name": "n", "nested": {"a": [1, [2, {"b": null}], 3.5], "c": {}}})",
      R"([{"recipients": 1}, ["recipients", ["+14155550100"]]])",
      R"("just a string")",
      R"({"a": {"recipients": ["x"]}, "recipients": [], "b": -1, "c": 18446744073709551615})",
  };
  for (const std::string& body : bodies) {
    SCOPED_TRACE(body);
    const json document = json::parse(body);
    std::string read_error;
    std::string document_error = "no error";
    BroadcastJson read;
    try {
      read = Read(body);
    } catch (const InputError& e) {
      read_error = e.what();
    }
    if (!document.is_object()) {
      EXPECT_EQ(read_error, "expected a JSON object");
      continue;
    }
    ASSERT_EQ(read_error, "");
    json expected_fields = document;
    const bool list = document.contains("recipients") && document["recipients"].is_array();
    if (list) {
      expected_fields.erase("recipients");
    }
    EXPECT_EQ(read.fields, expected_fields);
    EXPECT_EQ(read.has_recipient_list, list);
    if (!list) {
      continue;
    }
    std::vector<std::string> expected;
    try {
      expected = ParseRecipients(document["recipients"]);
    } catch (const InputError& e) {
      document_error = e.what();
    }
    EXPECT_EQ(ErrorOf([&] { EXPECT_EQ(read.TakeRecipients(), expected); }), document_error);
  }
  // A NUL character in a number names the entry, as the document's check did.
  EXPECT_NE(ErrorOf([] {
              Read(R"({"recipients": ["+14155550100", "+1415\u00005550101"]})");
            }).find("recipients[1]: contains a NUL character"),
            std::string::npos);
  // The document's checks: the media type, syntax, depth.
  http::Request text = JsonPost("{}");
  text.set(http::bhttp::field::content_type, "text/plain");
  EXPECT_THROW(ReadBroadcastJson(text, 3), http::ClientError);
  EXPECT_NE(ErrorOf([] { Read(R"({"recipients": [1e999]})"); }).find("JSON not accepted"),
            std::string::npos);
  EXPECT_NE(ErrorOf([] {
              Read(std::string(100, '[') + std::string(100, ']'));
            }).find("nested deeper than 64"),
            std::string::npos);
}

}  // namespace
}  // namespace crm::slice
