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

std::vector<AddressRange> Proxies(const std::string& list) {
  return ParseAddressRanges(list);
}

http::Endpoint Listening(const std::string& text) {
  return http::ParseEndpoint(text);
}

TEST(BrowserPolicyTest, BelievesXForwardedForOnlyFromATrustedProxy) {
  BrowserPolicy policy("", Proxies("127.0.0.1"), std::chrono::hours(1));
  http::Request req = Post("crm.example.com");
  req.set("X-Forwarded-For", "6.6.6.6, 203.0.113.9");
  EXPECT_EQ(policy.ClientIp(req, "127.0.0.1"), "203.0.113.9") << "the entry nginx appended";
  EXPECT_EQ(policy.ClientIp(req, "198.51.100.4"), "198.51.100.4") << "a client's own claim";
  EXPECT_EQ(policy.ClientIp(req, "::1"), "::1") << "only the configured loopback address";
}

TEST(BrowserPolicyTest, TrustsNobodyByDefaultNotEvenLoopback) {
  BrowserPolicy policy("", {}, std::chrono::hours(1));
  http::Request req = Post("localhost");
  req.set("X-Forwarded-For", "203.0.113.9");
  EXPECT_EQ(policy.ClientIp(req, "127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(policy.ClientIp(req, "unix"), "unix");
}

TEST(BrowserPolicyTest, WalksPastEveryTrustedHopToTheClient) {
  BrowserPolicy policy("", Proxies("10.0.0.0/8, fd00::/8"), std::chrono::hours(1));
  http::Request req = Post("crm.example.com");
  // The client spoofs one entry; the load balancer (10.1.0.1) and an ingress pod add theirs.
  req.set("X-Forwarded-For", "6.6.6.6, 203.0.113.9, 10.1.0.1");
  EXPECT_EQ(policy.ClientIp(req, "fd00::7"), "203.0.113.9");
  req.set("X-Forwarded-For", "10.2.0.2");
  EXPECT_EQ(policy.ClientIp(req, "10.9.9.9"), "10.2.0.2") << "all hops ours: the first one";
  req.set("X-Forwarded-For", "not-an-address");
  EXPECT_EQ(policy.ClientIp(req, "10.9.9.9"), "10.9.9.9") << "garbage: the last hop we know";
  req.set("X-Forwarded-For", "");
  EXPECT_EQ(policy.ClientIp(req, "::ffff:10.9.9.9"), "::ffff:10.9.9.9");
}

TEST(BrowserPolicyTest, RefusesAForeignOriginOnStateChangingRequestsOnly) {
  BrowserPolicy policy("https://crm.example.com", {}, std::chrono::hours(1));
  http::Request req = Post("crm.example.com");
  EXPECT_NO_THROW(policy.CheckOrigin(req)) << "no Origin: not a browser's cross-site request";
  req.set(bhttp::field::origin, "https://crm.example.com");
  EXPECT_NO_THROW(policy.CheckOrigin(req));
  req.set(bhttp::field::origin, "https://evil.example");
  EXPECT_THROW(policy.CheckOrigin(req), Forbidden);
  req.method(bhttp::verb::get);
  EXPECT_NO_THROW(policy.CheckOrigin(req));
}

TEST(BrowserPolicyTest, TheHostHeaderNeverChoosesTheOrigin) {
  BrowserPolicy policy("", {}, std::chrono::hours(1));
  policy.DeriveFrom(Listening("127.0.0.1:8080"));
  EXPECT_EQ(policy.PublicUrl(), "http://127.0.0.1:8080");
  http::Request req = Post("evil.example");
  req.set(bhttp::field::origin, "http://evil.example");
  EXPECT_THROW(policy.CheckOrigin(req), Forbidden) << "an Origin matching a forged Host";
  req.set(bhttp::field::origin, "http://localhost:8080");
  EXPECT_NO_THROW(policy.CheckOrigin(req)) << "a browser on the demo machine";
  req.set(bhttp::field::origin, "http://127.0.0.1:8080");
  EXPECT_NO_THROW(policy.CheckOrigin(req));
}

TEST(BrowserPolicyTest, ThePublicUrlIsDerivedFromTheListenAddressOnlyWhenUnset) {
  auto derived = [](const std::string& configured, const std::string& listen) {
    BrowserPolicy policy(configured, {}, std::chrono::hours(1));
    policy.DeriveFrom(Listening(listen));
    return policy.PublicUrl();
  };
  EXPECT_EQ(derived("", "0.0.0.0:9000"), "http://127.0.0.1:9000");
  EXPECT_EQ(derived("", "[::1]:9000"), "http://[::1]:9000");
  EXPECT_EQ(derived("", "127.0.0.5:9000"), "http://127.0.0.5:9000");
  EXPECT_EQ(derived("", "192.0.2.7:80"), "http://192.0.2.7:80");
  EXPECT_EQ(derived("", "unix:/run/crmd.sock"), "http://localhost");
  EXPECT_EQ(derived("https://crm.example.com", "0.0.0.0:9000"), "https://crm.example.com");
}

TEST(BrowserPolicyTest, CookiesAreSecureWhenThePublicUrlIsHttps) {
  BrowserPolicy local("", {}, std::chrono::seconds(3600));
  local.DeriveFrom(Listening("127.0.0.1:8080"));
  EXPECT_EQ(local.SessionCookie("tok"),
            "crm_session=tok; Path=/; Max-Age=3600; HttpOnly; SameSite=Strict");
  EXPECT_NE(local.ClearCookie().find("Max-Age=0"), std::string::npos);
  BrowserPolicy site("https://crm.example.com", {}, std::chrono::seconds(3600));
  EXPECT_NE(site.SessionCookie("tok").find("; Secure"), std::string::npos);
  EXPECT_NE(site.ClearCookie().find("; Secure"), std::string::npos);
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
