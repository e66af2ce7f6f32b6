#include "crm/http/response.hpp"

#include <gtest/gtest.h>

#include "crm/error.hpp"
#include "crm/http/protocol_error.hpp"

namespace crm::http {
namespace {

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
