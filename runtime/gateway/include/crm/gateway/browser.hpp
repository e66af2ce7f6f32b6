// The gateway's rules for browsers: which address a request really comes from (behind our
// nginx), which Origin may change state (CSRF), and the session cookie's attributes.
#pragma once

#include <chrono>
#include <string>

#include "crm/http/message.hpp"

namespace crm::gateway {

class BrowserPolicy {
 public:
  /// `public_url`: the origin browsers use ("https://crm.example.com"); empty derives it from
  /// the request's Host (plain HTTP on localhost). `session_ttl`: the cookie's Max-Age.
  BrowserPolicy(std::string public_url, std::chrono::seconds session_ttl)
      : public_url_(std::move(public_url)), session_ttl_(session_ttl) {}

  /// The client's address: `peer`, or behind a loopback proxy (our nginx) the last
  /// X-Forwarded-For entry, the one the proxy appended.
  std::string ClientIp(const http::Request& request, const std::string& peer) const;
  /// The origin a browser on our site sends.
  std::string ExpectedOrigin(const http::Request& request) const;
  /// Throws Forbidden when a state-changing request carries another site's Origin. A request
  /// without Origin passes: browsers send it on every cross-origin POST; curl and crmctl omit it.
  void CheckOrigin(const http::Request& request) const;
  /// Set-Cookie values: the session (HttpOnly, SameSite=Strict, Secure except on plain-HTTP
  /// localhost), and its removal.
  std::string SessionCookie(const http::Request& request, const std::string& token) const;
  std::string ClearCookie(const http::Request& request) const;

 private:
  bool SecureCookies(const http::Request& request) const;
  std::string public_url_;
  std::chrono::seconds session_ttl_;
};

}  // namespace crm::gateway
