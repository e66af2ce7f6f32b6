#include "crm/gateway/browser.hpp"

#include "crm/error.hpp"
#include "crm/gateway/sessions.hpp"

namespace crm::gateway {
namespace {

namespace bhttp = boost::beast::http;

bool IsStateChanging(bhttp::verb method) {
  return method == bhttp::verb::post || method == bhttp::verb::put ||
         method == bhttp::verb::patch || method == bhttp::verb::delete_;
}

bool IsLoopback(const std::string& ip) {
  return ip == "127.0.0.1" || ip == "::1" || ip == "unix";
}

}  // namespace

std::string BrowserPolicy::ClientIp(const http::Request& request, const std::string& peer) const {
  if (IsLoopback(peer)) {
    std::string_view xff = request["X-Forwarded-For"];
    if (!xff.empty()) {
      auto comma = xff.rfind(',');
      std::string_view last = comma == std::string_view::npos ? xff : xff.substr(comma + 1);
      while (!last.empty() && last.front() == ' ') {
        last.remove_prefix(1);
      }
      if (!last.empty() && last.size() <= 45) {
        return std::string(last);
      }
    }
  }
  return peer;
}

std::string BrowserPolicy::ExpectedOrigin(const http::Request& request) const {
  if (!public_url_.empty()) {
    return public_url_;
  }
  return "http://" + std::string(request[bhttp::field::host]);
}

void BrowserPolicy::CheckOrigin(const http::Request& request) const {
  if (!IsStateChanging(request.method())) {
    return;
  }
  auto origin = request[bhttp::field::origin];
  if (request.find(bhttp::field::origin) != request.end() && origin != ExpectedOrigin(request)) {
    throw Forbidden("cross-origin request refused (Origin: " + std::string(origin) + "; expected " +
                    ExpectedOrigin(request) + ")");
  }
}

bool BrowserPolicy::SecureCookies(const http::Request& request) const {
  if (public_url_.rfind("https://", 0) == 0) {
    return true;
  }
  std::string_view host = request[bhttp::field::host];
  host = host.substr(0, host.rfind(':') == std::string_view::npos || host.back() == ']'
                            ? host.size()
                            : host.rfind(':'));
  bool localhost = host == "localhost" || host == "127.0.0.1" || host == "[::1]";
  return !localhost;
}

std::string BrowserPolicy::SessionCookie(const http::Request& request,
                                         const std::string& token) const {
  return std::string(kSessionCookie) + "=" + token +
         "; Path=/; Max-Age=" + std::to_string(session_ttl_.count()) +
         "; HttpOnly; SameSite=Strict" + (SecureCookies(request) ? "; Secure" : "");
}

std::string BrowserPolicy::ClearCookie(const http::Request& request) const {
  return std::string(kSessionCookie) + "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict" +
         (SecureCookies(request) ? "; Secure" : "");
}

}  // namespace crm::gateway
