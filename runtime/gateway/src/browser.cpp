#include "crm/gateway/browser.hpp"

#include <algorithm>

#include "crm/error.hpp"
#include "crm/gateway/sessions.hpp"
#include "crm/text.hpp"

namespace crm::gateway {
namespace {

namespace bhttp = boost::beast::http;

bool IsStateChanging(bhttp::verb method) {
  return method == bhttp::verb::post || method == bhttp::verb::put ||
         method == bhttp::verb::patch || method == bhttp::verb::delete_;
}

}  // namespace

BrowserPolicy::BrowserPolicy(std::string public_url, std::vector<AddressRange> trusted_proxies,
                             std::chrono::seconds session_ttl)
    : public_url_(std::move(public_url)),
      trusted_proxies_(std::move(trusted_proxies)),
      session_ttl_(session_ttl) {}

void BrowserPolicy::DeriveFrom(const http::Endpoint& bound) {
  if (!public_url_.empty()) {
    return;
  }
  if (bound.is_unix) {
    // Only a proxy on this machine can reach a Unix socket; without CRM_PUBLIC_URL we cannot
    // know the name browsers use, and links say localhost rather than anything a client sent.
    public_url_ = "http://localhost";
    return;
  }
  std::string port = std::to_string(bound.port);
  const std::string& host = bound.host;
  bool wildcard = host.empty() || host == "0.0.0.0" || host == "::";
  bool loopback = wildcard || host.rfind("127.", 0) == 0 || host == "::1";
  // A wildcard address is no origin a browser can use; loopback is the one that surely works.
  std::string shown = wildcard ? "127.0.0.1" : host;
  public_url_ =
      "http://" + (shown.find(':') != std::string::npos ? "[" + shown + "]" : shown) + ":" + port;
  if (loopback) {
    also_accepted_origins_ = {"http://localhost:" + port};
  }
}

bool BrowserPolicy::Trusted(const std::string& address) const {
  return std::any_of(trusted_proxies_.begin(), trusted_proxies_.end(),
                     [&](const AddressRange& range) { return range.Contains(address); });
}

std::string BrowserPolicy::ClientIp(const http::Request& request, const std::string& peer) const {
  if (!Trusted(peer)) {
    return peer;
  }
  // Every X-Forwarded-For header, joined as one list (a proxy may add its own header line).
  std::string list;
  auto [first, last] = request.equal_range("X-Forwarded-For");
  for (auto it = first; it != last; ++it) {
    list += list.empty() ? "" : ",";
    list += std::string(it->value());
  }
  std::string client = peer;
  std::string_view rest = list;
  while (!TrimBlanks(rest).empty()) {
    auto comma = rest.rfind(',');
    std::string_view entry =
        TrimBlanks(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
    // Anything that is not an address was not written by a proxy we trust: stop at the last
    // hop we know.
    if (!IsIpAddress(entry)) {
      break;
    }
    client = std::string(entry);
    if (!Trusted(client)) {
      break;
    }
  }
  return client;
}

void BrowserPolicy::CheckOrigin(const http::Request& request) const {
  if (!IsStateChanging(request.method()) || request.find(bhttp::field::origin) == request.end()) {
    return;
  }
  std::string_view origin = request[bhttp::field::origin];
  if (origin == public_url_ ||
      std::find(also_accepted_origins_.begin(), also_accepted_origins_.end(), origin) !=
          also_accepted_origins_.end()) {
    return;
  }
  throw Forbidden("cross-origin request refused (Origin: " + std::string(origin) + "; expected " +
                  public_url_ + ")");
}

std::string BrowserPolicy::SessionCookie(const std::string& token) const {
  return std::string(kSessionCookie) + "=" + token +
         "; Path=/; Max-Age=" + std::to_string(session_ttl_.count()) +
         "; HttpOnly; SameSite=Strict" + (public_url_.rfind("https://", 0) == 0 ? "; Secure" : "");
}

std::string BrowserPolicy::ClearCookie() const {
  return std::string(kSessionCookie) + "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict" +
         (public_url_.rfind("https://", 0) == 0 ? "; Secure" : "");
}

}  // namespace crm::gateway
