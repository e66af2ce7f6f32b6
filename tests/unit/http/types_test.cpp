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
  EXPECT_THROW(PercentDecode("%zz"), InputError);
  EXPECT_THROW(PercentDecode("abc%4"), InputError);
}

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

// The one border where domain errors become status codes.
template <class E>
Response AnswerTo(const E& error) {
  Request req{bhttp::verb::get, "/x", 11};
  try {
    throw error;
  } catch (...) {
    return ResponseForCurrentException(req);
  }
}

nlohmann::json BodyOf(const Response& res) {
  return nlohmann::json::parse(res.body());
}

TEST(ResponseTest, DomainErrorsMapToTheirStatusWithFieldAndRetryAfter) {
  auto bad = AnswerTo(InputError("phone: expected an E.164 number", "phone"));
  EXPECT_EQ(bad.result(), Status::bad_request);
  EXPECT_EQ(BodyOf(bad),
            (nlohmann::json{{"error", "phone: expected an E.164 number"}, {"field", "phone"}}));
  EXPECT_EQ(AnswerTo(NotFound("no contact with id 7")).result(), Status::not_found);
  EXPECT_FALSE(BodyOf(AnswerTo(NotFound("no contact with id 7"))).contains("field"));
  EXPECT_EQ(BodyOf(AnswerTo(Conflict("taken", "email")))["field"], "email");
  EXPECT_EQ(AnswerTo(Conflict("taken")).result(), Status::conflict);
  EXPECT_EQ(AnswerTo(Unauthenticated("sign in first")).result(), Status::unauthorized);
  EXPECT_EQ(AnswerTo(Forbidden("admin only")).result(), Status::forbidden);
  auto throttled = AnswerTo(Throttled("too many", std::chrono::seconds(42)));
  EXPECT_EQ(throttled.result(), Status::too_many_requests);
  EXPECT_EQ(throttled[bhttp::field::retry_after], "42");
  auto unavailable = AnswerTo(Unavailable("restarting", std::chrono::seconds(5)));
  EXPECT_EQ(unavailable.result(), Status::service_unavailable);
  EXPECT_EQ(unavailable[bhttp::field::retry_after], "5");
  EXPECT_EQ(BodyOf(unavailable)["error"], "restarting");
  auto down = AnswerTo(Unavailable("database down"));
  EXPECT_EQ(down.find(bhttp::field::retry_after), down.end());
}

TEST(ResponseTest, ProtocolErrorsKeepTheirStatusAndOtherFailuresAreHidden) {
  EXPECT_EQ(AnswerTo(ClientError(Status::unsupported_media_type, "json please")).result(),
            Status::unsupported_media_type);
  EXPECT_EQ(AnswerTo(ServiceError(Status::gateway_timeout, "slow")).result(),
            Status::gateway_timeout);
  auto internal = AnswerTo(RuntimeError("password=hunter2 leaked"));
  EXPECT_EQ(internal.result(), Status::internal_server_error);
  EXPECT_EQ(internal.body().find("hunter2"), std::string::npos);
}

}  // namespace
}  // namespace crm::http
