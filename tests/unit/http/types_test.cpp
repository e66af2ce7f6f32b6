#include "crm/http/types.hpp"

#include <gtest/gtest.h>

namespace crm::http {
namespace {

TEST(EndpointTest, ParsesTcpAndUnixSockets) {
  auto tcp = ParseEndpoint("127.0.0.1:8080");
  EXPECT_FALSE(tcp.is_unix);
  EXPECT_EQ(tcp.port, 8080);
  EXPECT_EQ(ParseEndpoint(":9000").host, "0.0.0.0");
  EXPECT_EQ(ParseEndpoint("[::1]:80").ToString(), "[::1]:80");
  auto unix_socket = ParseEndpoint("unix:/run/crmd/slice-7.sock");
  EXPECT_TRUE(unix_socket.is_unix);
  EXPECT_EQ(unix_socket.path, "/run/crmd/slice-7.sock");
  for (const char* bad :
       {"8080", "host:80", "127.0.0.1:99999", "unix:relative.sock", "127.0.0.1:"}) {
    EXPECT_THROW(ParseEndpoint(bad), InputError) << bad;
  }
}

TEST(QueryTest, ReadsAndDecodesParameters) {
  EXPECT_EQ(QueryParam("/api/contacts?q=ana%20m&cursor=7", "q"), "ana m");
  EXPECT_EQ(QueryParam("/api/contacts?q=ana+m", "q"), "ana m");
  EXPECT_EQ(QueryParam("/api/contacts?cursor=7", "q"), std::nullopt);
  EXPECT_EQ(QueryParam("/api/contacts?q", "q"), "");
  EXPECT_EQ(TargetPath("/api/contacts?q=1"), "/api/contacts");
  EXPECT_THROW(PercentDecode("%zz"), ClientError);
  EXPECT_THROW(PercentDecode("abc%4"), ClientError);
}

TEST(JsonBodyTest, RefusesWrongTypesAndPointsAtTheSyntaxError) {
  Request req{bhttp::verb::post, "/x", 11};
  req.set(bhttp::field::content_type, "application/json; charset=utf-8");
  req.body() = "{\"a\": 1,\n \"b\": }";
  try {
    ParseJsonBody(req);
    FAIL();
  } catch (const ClientError& e) {
    EXPECT_EQ(e.status(), Status::bad_request);
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
  }
  req.body() = R"({"n": 1e999})";  // parses, but no double holds it
  EXPECT_THROW(ParseJsonBody(req), ClientError);
  req.body() = "[1,2]";
  EXPECT_THROW(ParseJsonBody(req), ClientError);
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
  EXPECT_THROW(RequireString(body, "name", 4, 10), ClientError);
  EXPECT_THROW(RequireString(body, "n", 1, 10), ClientError);
  EXPECT_THROW(RequireString(body, "missing", 1, 10), ClientError);
  EXPECT_EQ(OptionalString(body, "missing", 1, 10), std::nullopt);
}

}  // namespace
}  // namespace crm::http
