// The gateway's rules for browsers: which address a request really comes from (behind a trusted
// proxy), which Origin may change state (CSRF), the origin mailed links name, and the session
// cookie's attributes. None of it is ever taken from the request's Host header.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "crm/address_range.hpp"
#include "crm/http/endpoint.hpp"
#include "crm/http/message.hpp"

namespace crm::gateway {

class BrowserPolicy {
 public:
  /// `public_url`: the origin browsers use ("https://crm.example.com"); empty until DeriveFrom
  /// fills it from the listen address. `trusted_proxies`: the peers whose X-Forwarded-For is
  /// believed (our nginx or load balancer); empty trusts nobody. `session_ttl`: the cookie's
  /// Max-Age.
  BrowserPolicy(std::string public_url, std::vector<AddressRange> trusted_proxies,
                std::chrono::seconds session_ttl);

  /// When no public URL was configured, derives it from the address the gateway listens on:
  /// "http://HOST:PORT", with 127.0.0.1 for a wildcard address, and for a loopback or wildcard
  /// address "http://localhost:PORT" accepted too as an Origin (a browser on the machine);
  /// "http://localhost" for a Unix socket. Call once, after binding (the port may have been 0)
  /// and before serving.
  void DeriveFrom(const http::Endpoint& bound);

  /// The client's address. From a trusted proxy, the X-Forwarded-For entries are walked from the
  /// right (the one the proxy appended) past every trusted hop; the first other address is the
  /// client. From anyone else, `peer`: a client's own claim is never believed.
  std::string ClientIp(const http::Request& request, const std::string& peer) const;
  /// The origin of our site ("https://crm.example.com"): what mailed links and Stripe's return
  /// URLs start with, and the Origin a browser on our site sends.
  const std::string& PublicUrl() const { return public_url_; }
  /// Throws Forbidden when a state-changing request carries another site's Origin. A request
  /// without Origin passes: browsers send it on every cross-origin POST; curl and crmctl omit it.
  void CheckOrigin(const http::Request& request) const;
  /// Set-Cookie values: the session (HttpOnly, SameSite=Strict, Secure when the public URL is
  /// https), and its removal.
  std::string SessionCookie(const std::string& token) const;
  std::string ClearCookie() const;

 private:
  bool Trusted(const std::string& address) const;
  std::string public_url_;
  std::vector<std::string> also_accepted_origins_;  ///< "http://localhost:PORT" on the demo
  std::vector<AddressRange> trusted_proxies_;
  std::chrono::seconds session_ttl_;
};

}  // namespace crm::gateway
