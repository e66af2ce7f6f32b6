#include "crm/http/response_head.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace crm::http {
namespace {

namespace bhttp = boost::beast::http;

constexpr bhttp::field kKeep[] = {bhttp::field::content_type, bhttp::field::location,
                                  bhttp::field::cache_control, bhttp::field::retry_after,
                                  bhttp::field::etag};

struct Scanned {
  HeadScan result;
  ResponseHead head;
  std::string out;
};

Scanned Scan(std::string_view in, unsigned client_version = 11) {
  Scanned s;
  s.result = ScanResponseHead(in, kKeep, client_version, s.head, s.out);
  return s;
}

const std::string kSliceHead =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
    "Content-Length: 42\r\n\r\n";

TEST(ResponseHeadTest, ASlicesHeadGivesItsStatusLengthAndTheKeptFields) {
  Scanned s = Scan(kSliceHead + "{\"body\":1}");
  ASSERT_EQ(s.result, HeadScan::kDone);
  EXPECT_EQ(s.head.status, 200u);
  EXPECT_EQ(s.head.version, 11u);
  EXPECT_EQ(s.head.size, kSliceHead.size());
  ASSERT_TRUE(s.head.content_length);
  EXPECT_EQ(*s.head.content_length, 42u);
  EXPECT_FALSE(s.head.transfer_encoding);
  EXPECT_TRUE(s.head.keep_alive);
  EXPECT_EQ(s.out,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n");
}

TEST(ResponseHeadTest, EveryShorterPrefixNeedsMore) {
  for (std::size_t n = 0; n < kSliceHead.size(); ++n) {
    Scanned s = Scan(std::string_view(kSliceHead).substr(0, n));
    EXPECT_EQ(s.result, HeadScan::kNeedMore) << n;
  }
}

TEST(ResponseHeadTest, OnlyTheFirstOfAKeptFieldPassesUnderItsUsualNameAndOnlyKeptOnesDo) {
  Scanned s = Scan(
      "HTTP/1.1 201 Whatever\r\nlocation:  /api/contacts/7 \r\nLOCATION: /elsewhere\r\n"
      "Set-Cookie: crm_session=x\r\nX-Internal: 1\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(s.result, HeadScan::kDone);
  EXPECT_EQ(s.out, "HTTP/1.1 201 Created\r\nLocation: /api/contacts/7\r\n");
}

TEST(ResponseHeadTest, KeepAliveFollowsTheVersionAndConnection) {
  auto keep_alive = [](const std::string& head) {
    Scanned s = Scan(head + "Content-Length: 0\r\n\r\n");
    EXPECT_EQ(s.result, HeadScan::kDone) << head;
    return s.head.keep_alive;
  };
  EXPECT_TRUE(keep_alive("HTTP/1.1 200 OK\r\n"));
  EXPECT_FALSE(keep_alive("HTTP/1.1 200 OK\r\nConnection: close\r\n"));
  EXPECT_FALSE(keep_alive("HTTP/1.1 200 OK\r\nConnection: upgrade, Close\r\n"));
  EXPECT_FALSE(keep_alive("HTTP/1.0 200 OK\r\n"));
  EXPECT_TRUE(keep_alive("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"));
  EXPECT_EQ(Scan("HTTP/1.0 200 OK\r\n\r\n", 10).out, "HTTP/1.0 200 OK\r\n");
}

TEST(ResponseHeadTest, LongValuesWithTabsAndObsTextAreTaken) {
  Scanned s = Scan(
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain;\tcharset=\xc3\xa9\xc3\xa9\xc3\xa9"
      "abcdefgh\r\n"
      "Content-Length: 0\r\n\r\n");
  ASSERT_EQ(s.result, HeadScan::kDone);
  EXPECT_EQ(s.out,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain;\tcharset=\xc3\xa9\xc3\xa9\xc3\xa9"
            "abcdefgh\r\n");
}

TEST(ResponseHeadTest, ATransferEncodingIsNotedAndNoLengthIsGivenForIt) {
  Scanned s = Scan("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
  ASSERT_EQ(s.result, HeadScan::kDone);
  EXPECT_TRUE(s.head.transfer_encoding);
  EXPECT_FALSE(s.head.content_length);
}

TEST(ResponseHeadTest, WhatBeastRefusesAndMoreIsRefused) {
  const std::vector<std::string> bad = {
      "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",                    // bare LF
      "HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n",                    // bare LF
      "HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n",     // bare CR
      "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n",  // obs-fold
      std::string("HTTP/1.1 200 OK\r\nX-A: a\0b\r\n\r\n", 29),         // NUL
      "HTTP/1.1 200 OK\r\nX-A: a\x7f\r\n\r\n",                         // DEL
      "HTTP/1.1 200 OK\r\nX-A : a\r\n\r\n",                            // space before the colon
      "HTTP/1.1 200 OK\r\n: a\r\n\r\n",                                // no name
      "HTTP/1.1 200 OK\r\nX(A): a\r\n\r\n",                            // not a token
      "HTTP/1.1 200 OK\r\nX-A\r\n\r\n",                                // no colon
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nConnection: clo se\r\n\r\n",
      "HTTP/2.0 200 OK\r\n\r\n",
      "HTTP/1.2 200 OK\r\n\r\n",
      "HTTP/1.1 2x0 OK\r\n\r\n",
      "HTTP/1.1 099 Low\r\n\r\n",
      "HTTP/1.1 200\r\n\r\n",  // Beast wants the SP before the reason
      "HTTP/1.1  200 OK\r\n\r\n",
      "HTTP/1.1 200 O\x01K\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX-Long: aaaaaaaaaaaaaaaa\x01"
      "aaaaaaaaaaaaaaa\r\n\r\n",  // in a whole word
      "HTTP/1.1 200 OK\r\nX-Long: aaaaaaaaaaaaa\taaa\x7f"
      "aaaaaaaaaaaaaaa\r\n\r\n",
      "http/1.1 200 OK\r\n\r\n",
      "XYZ",                                                       // no status line can start so
      "HTTP/1.1 200 OK\r\n" + std::string(kMaxResponseHead, 'a'),  // no end within the limit
      "HTTP/1.1 200 OK\r\nX-A: " + std::string(kMaxResponseHead, 'a') + "\r\n\r\n",
  };
  for (const auto& head : bad) {
    EXPECT_EQ(Scan(head).result, HeadScan::kBad) << head.substr(0, 80);
  }
}

}  // namespace
}  // namespace crm::http
