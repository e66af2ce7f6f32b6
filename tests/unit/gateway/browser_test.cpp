#include "crm/gateway/browser.hpp"

#include <gtest/gtest.h>

#include "crm/error.hpp"
#include "crm/gateway/sessions.hpp"

namespace crm::gateway {
namespace {

namespace bhttp = boost::beast::http;

http::Request Post(const std::string& host) {
  http::Request req{bhttp::verb::post, "/auth/login", 11};
  req.set(bhttp::field::host, host);
  return req;
}

TEST(BrowserPolicyTest, TrustsXForwardedForOnlyFromALoopbackProxy) {
  BrowserPolicy policy("", std::chrono::hours(1));
  http::Request req = Post("crm.example.com");
  req.set("X-Forwarded-For", "6.6.6.6, 203.0.113.9");
  EXPECT_EQ(policy.ClientIp(req, "127.0.0.1"), "203.0.113.9") << "the entry nginx appended";
  EXPECT_EQ(policy.ClientIp(req, "198.51.100.4"), "198.51.100.4") << "a client's own claim";
}

TEST(BrowserPolicyTest, RefusesAForeignOriginOnStateChangingRequestsOnly) {
  BrowserPolicy policy("https://crm.example.com", std::chrono::hours(1));
  http::Request req = Post("crm.example.com");
  EXPECT_NO_THROW(policy.CheckOrigin(req)) << "no Origin: not a browser's cross-site request";
  req.set(bhttp::field::origin, "https://crm.example.com");
  EXPECT_NO_THROW(policy.CheckOrigin(req));
  req.set(bhttp::field::origin, "https://evil.example");
  EXPECT_THROW(policy.CheckOrigin(req), Forbidden);
  req.method(bhttp::verb::get);
  EXPECT_NO_THROW(policy.CheckOrigin(req));
}

TEST(BrowserPolicyTest, CookiesAreSecureExceptOnPlainHttpLocalhost) {
  BrowserPolicy local("", std::chrono::seconds(3600));
  EXPECT_EQ(local.SessionCookie(Post("localhost:8080"), "tok"),
            "crm_session=tok; Path=/; Max-Age=3600; HttpOnly; SameSite=Strict");
  EXPECT_NE(local.SessionCookie(Post("crm.example.com"), "tok").find("; Secure"),
            std::string::npos);
  EXPECT_NE(local.ClearCookie(Post("[::1]:8080")).find("Max-Age=0"), std::string::npos);
}

TEST(SessionsTest, TheTokenComesFromTheBearerHeaderOrTheCookie) {
  http::Request req = Post("localhost");
  EXPECT_EQ(TokenFrom(req), "");
  req.set(bhttp::field::cookie, "theme=dark; crm_session=abc; other=1");
  EXPECT_EQ(TokenFrom(req), "abc");
  req.set(bhttp::field::authorization, "Bearer xyz");
  EXPECT_EQ(TokenFrom(req), "xyz");
}

}  // namespace
}  // namespace crm::gateway
