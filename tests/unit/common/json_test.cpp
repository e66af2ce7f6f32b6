#include "crm/json.hpp"

#include <gtest/gtest.h>

#include <string>

#include "crm/error.hpp"

namespace crm {
namespace {

std::string Nested(std::size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

TEST(JsonTest, MeasuresDepthOutsideStringsOnly) {
  EXPECT_EQ(JsonTooDeepAt("1"), std::string_view::npos);
  EXPECT_EQ(JsonTooDeepAt(Nested(64)), std::string_view::npos);
  EXPECT_EQ(JsonTooDeepAt(Nested(65)), 64u);
  EXPECT_EQ(JsonTooDeepAt(R"({"a":[{"b":[]}]})", 3), 11u);
  EXPECT_EQ(JsonTooDeepAt(R"({"a":[{"b":[]}]})", 4), std::string_view::npos);
  // Brackets in strings, and escaped quotes that do not end them, do not count.
  EXPECT_EQ(JsonTooDeepAt(R"(["[[[[", "\"[[[[", "\\", [1]])", 2), std::string_view::npos);
  EXPECT_EQ(JsonTooDeepAt(R"(["\\", [[1]]])", 2), 8u);
}

TEST(JsonTest, RefusesTooDeepInputNamingTheDepthAndThePlace) {
  // The object is level 1, so the 64th bracket opens level 65.
  std::string deep = "{\"a\":\n" + Nested(100'000) + "}";
  try {
    ParseJson(deep, "settings");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()),
              "settings: JSON nested deeper than 64 levels at line 2 column 64");
  }
  EXPECT_TRUE(ParseJsonOrDiscarded(deep).is_discarded());
  EXPECT_EQ(ParseJson(Nested(64), "x").size(), 1u);
  EXPECT_EQ(ParseJsonOrDiscarded(Nested(64)).size(), 1u);
}

TEST(JsonTest, ReportsSyntaxErrorsByLineAndColumn) {
  try {
    ParseJson("{\"a\": 1,\n \"b\": }", "");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), "malformed JSON at line 2 column 7");
  }
  EXPECT_THROW(ParseJson(R"({"n": 1e999})", "body"), InputError);
  EXPECT_TRUE(ParseJsonOrDiscarded(R"({"n": 1e999})").is_discarded());
  EXPECT_TRUE(ParseJsonOrDiscarded("{").is_discarded());
  EXPECT_EQ(ParseJson(R"({"a": "[{"})", "x")["a"], "[{");
  // nlohmann alone would read "{}" and ignore the rest.
  std::string tail("{}\0[[[", 6);
  EXPECT_THROW(ParseJson(tail, "x"), InputError);
  EXPECT_TRUE(ParseJsonOrDiscarded(tail).is_discarded());
}

}  // namespace
}  // namespace crm
