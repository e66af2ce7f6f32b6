#include "crm/http/json_body.hpp"

#include <gtest/gtest.h>

#include "crm/error.hpp"
#include "crm/http/protocol_error.hpp"

namespace crm::http {
namespace {

TEST(JsonBodyTest, RefusesWrongTypesAndPointsAtTheSyntaxError) {
  Request req{bhttp::verb::post, "/x", 11};
  req.set(bhttp::field::content_type, "application/json; charset=utf-8");
  req.body() = "{\"a\": 1,\n \"b\": }";
  try {
    ParseJsonBody(req);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
  }
  req.body() = R"({"n": 1e999})";  // parses, but no double holds it
  EXPECT_THROW(ParseJsonBody(req), InputError);
  req.body() = "[1,2]";
  EXPECT_THROW(ParseJsonBody(req), InputError);
  req.set(bhttp::field::content_type, "text/plain");
  req.body() = "{}";
  try {
    ParseJsonBody(req);
    FAIL();
  } catch (const ClientError& e) {
    EXPECT_EQ(e.status(), Status::unsupported_media_type);
  }
}

TEST(JsonBodyTest, StringFieldsAreCheckedByCharactersNotBytes) {
  auto body = nlohmann::json::parse(R"({"name":"Zoë","n":3})");
  EXPECT_EQ(RequireString(body, "name", 1, 3), "Zoë");
  EXPECT_THROW(RequireString(body, "name", 4, 10), InputError);
  EXPECT_THROW(RequireString(body, "n", 1, 10), InputError);
  try {
    RequireString(body, "missing", 1, 10);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "missing");
  }
  EXPECT_EQ(OptionalString(body, "missing", 1, 10), std::nullopt);
}

TEST(JsonBodyTest, AnEmptyOptionalBodyIsAnEmptyObject) {
  Request req{bhttp::verb::post, "/x", 11};
  EXPECT_EQ(ParseOptionalJsonBody(req), nlohmann::json::object());
  req.body() = "{\"reason\": \"billing\"}";
  EXPECT_THROW(ParseOptionalJsonBody(req), ClientError) << "a body must say it is JSON";
  req.set(bhttp::field::content_type, "application/json");
  EXPECT_EQ(ParseOptionalJsonBody(req)["reason"], "billing");
}

TEST(JsonBodyTest, RefusesDeepNestingAndNulNamingTheDepthAndTheField) {
  Request req{bhttp::verb::post, "/x", 11};
  req.set(bhttp::field::content_type, "application/json");
  req.body() = R"({"a": )" + std::string(100'000, '[') + std::string(100'000, ']') + "}";
  try {
    ParseJsonBody(req);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("deeper than 64 levels at line 1 column 70"),
              std::string::npos)
        << e.what();
  }
  req.body() = R"({"name": "Ana\u0000Evil"})";
  try {
    ParseJsonBody(req);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "name");
  }
  req.body() = R"({"template": {"parameters": ["ok", "x\u0000"]}})";
  try {
    ParseJsonBody(req);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "template.parameters");
    EXPECT_NE(std::string(e.what()).find("template.parameters[1]"), std::string::npos);
  }
  // An escaped backslash before "u0000" is text, not NUL.
  req.body() = R"({"name": "C:\\u0000"})";
  EXPECT_EQ(ParseJsonBody(req)["name"], "C:\\u0000");
  nlohmann::json cell = {{"name", std::string("Ana\0Evil", 8)}};
  EXPECT_THROW(RequireString(cell, "name", 1, 200), InputError);
}

}  // namespace
}  // namespace crm::http
