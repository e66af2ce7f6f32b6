#include "crm/http/request_head.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace crm::http {
namespace {

ServerLimits Limits() {
  ServerLimits limits;
  limits.body_limit = 100;
  limits.header_limit = 1024;
  limits.body_limit_for = {{"/api/broadcasts", 1000}};
  return limits;
}

TEST(RequestHeadTest, KeepAliveRequestsAreReadOneAfterAnother) {
  ParsedInput parsed = ParseRequests(
      "GET /health HTTP/1.1\r\nHost: a\r\n\r\n"
      "POST /api/contacts HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}"
      "POST /api/broadcasts HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "2\r\n{}\r\n0\r\n\r\n",
      Limits());
  EXPECT_EQ(parsed.requests, 3u);
  EXPECT_FALSE(parsed.refusal);
}

TEST(RequestHeadTest, AnUnknownTransferEncodingIsRefusedAndItsBodyNeverRead) {
  for (const std::string coding :
       {"gzip", "chunked, identity", "identity", "gzip, chunked, gzip", "Chunked, chunked", ","}) {
    ParsedInput parsed =
        ParseRequests("POST /auth/login HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: " + coding +
                          "\r\n\r\nGET /health HTTP/1.1\r\n\r\n",
                      Limits());
    EXPECT_EQ(parsed.requests, 0u) << coding;
    ASSERT_TRUE(parsed.refusal) << coding;
    EXPECT_EQ(parsed.refusal->status, Status::not_implemented) << coding;
  }
  // Any case of chunked alone is fine.
  EXPECT_EQ(
      ParseRequests("POST /x HTTP/1.1\r\nTransfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n", Limits())
          .requests,
      1u);
}

TEST(RequestHeadTest, BodyLimitsFollowTheRouteAndAreCheckedOnTheHeader) {
  auto declared = [](const std::string& target, std::size_t length) {
    return ParseRequests(
        "POST " + target + " HTTP/1.1\r\nContent-Length: " + std::to_string(length) + "\r\n\r\n",
        Limits());
  };
  ParsedInput small_route = declared("/api/contacts", 101);
  ASSERT_TRUE(small_route.refusal);
  EXPECT_EQ(small_route.refusal->status, Status::payload_too_large);
  EXPECT_EQ(small_route.refusal->message, "request body larger than 100 bytes");
  EXPECT_FALSE(declared("/api/broadcasts", 1000).refusal);
  ParsedInput over_all = declared("/api/broadcasts", 5000);
  ASSERT_TRUE(over_all.refusal);
  EXPECT_EQ(over_all.refusal->status, Status::payload_too_large);
  // A chunked body is held to the same limit as it arrives.
  ParsedInput chunked = ParseRequests(
      "POST /api/contacts HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "c8\r\n" +
          std::string(200, 'x') + "\r\n0\r\n\r\n",
      Limits());
  ASSERT_TRUE(chunked.refusal);
  EXPECT_EQ(chunked.refusal->status, Status::payload_too_large);
}

TEST(RequestHeadTest, OversizedAndMalformedHeadersAreRefused) {
  ParsedInput big =
      ParseRequests("GET / HTTP/1.1\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n", Limits());
  ASSERT_TRUE(big.refusal);
  EXPECT_EQ(big.refusal->status, Status::request_header_fields_too_large);
  ParsedInput bad = ParseRequests("GET / HTTQ/1.1\r\n\r\n", Limits());
  ASSERT_TRUE(bad.refusal);
  EXPECT_EQ(bad.refusal->status, Status::bad_request);
  // Input that ends inside a header is no request and no refusal (the client is still sending).
  ParsedInput partial = ParseRequests("GET / HTTP/1.1\r\nHost:", Limits());
  EXPECT_EQ(partial.requests, 0u);
  EXPECT_FALSE(partial.refusal);
}

// The server's hot path takes the usual request itself, as Beast's parser would read it.
TEST(RequestHeadTest, TheUsualRequestIsTakenWithoutAParserAsBeastWouldReadIt) {
  const std::string head =
      "GET /api/contacts?limit=10 HTTP/1.1\r\nHost: a\r\ncookie:  crm_session=t \r\n"
      "Accept: */*\r\nConnection: keep-alive\r\n\r\n";
  Request req;
  std::size_t size = 0;
  ASSERT_TRUE(TakeSimpleRequest(head + "GET /next HTTP/1.1\r\n", 1024, req, size));
  EXPECT_EQ(size, head.size());
  EXPECT_EQ(req.method(), bhttp::verb::get);
  EXPECT_EQ(req.target(), "/api/contacts?limit=10");
  EXPECT_EQ(req.version(), 11u);
  EXPECT_EQ(req[bhttp::field::cookie], "crm_session=t");
  EXPECT_EQ(req[bhttp::field::accept], "*/*");
  EXPECT_TRUE(req.keep_alive());
  Request old;
  ASSERT_TRUE(TakeSimpleRequest("HEAD / HTTP/1.0\r\n\r\n", 1024, old, size));
  EXPECT_EQ(old.method(), bhttp::verb::head);
  EXPECT_FALSE(old.keep_alive());
}

// Anything else is left to Beast's parser (which answers what it refuses): heads not yet whole,
// bodies, upgrades, heads over the limit, and every malformed line.
TEST(RequestHeadTest, AnythingButTheUsualRequestIsLeftToBeastsParser) {
  const std::vector<std::string> left = {
      "GET / HTTP/1.1\r\nHost: a\r\n",                                   // not whole yet
      "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",                    // a length
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",  // a coding
      "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
      "GET / HTTP/1.1\r\nConnection: a b\r\n\r\n",  // not a token list
      "GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n",     // obs-fold
      "GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n",        // bare CR
      "GET / HTTP/1.1\nHost: a\r\n\r\n",            // bare LF
      "GET / HTTP/1.1\r\nX-A : a\r\n\r\n",          // space before the colon
      "GET / HTTP/2.0\r\n\r\n",
      "GET / HTTP/1.1 \r\n\r\n",
      "GET  / HTTP/1.1\r\n\r\n",
      "G(T / HTTP/1.1\r\n\r\n",
      "GET /\x7f HTTP/1.1\r\n\r\n",
      "GET /\xc3\xa9 HTTP/1.1\r\n\r\n",                        // obs-text: Beast decides
      "GET /" + std::string(2000, 'a') + " HTTP/1.1\r\n\r\n",  // over the header limit
  };
  for (const auto& input : left) {
    Request req;
    std::size_t size = 0;
    EXPECT_FALSE(TakeSimpleRequest(input, 1024, req, size)) << input.substr(0, 60);
  }
}

}  // namespace
}  // namespace crm::http
