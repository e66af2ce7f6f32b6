// A blocking HTTP client for tests (libcurl): one call per request, status, headers and body.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace crm::testing {

struct HttpResult {
  long status = 0;    ///< 0 when no response arrived (connection failed, timeout)
  std::string error;  ///< libcurl's message when status is 0
  std::map<std::string, std::string>
      headers;  ///< names lower-cased; repeated headers joined by "\n"
  std::string body;
  double seconds = 0;
  nlohmann::json Json() const;
};

/// Sends one request. `headers` are "Name: value" lines. Never throws on HTTP errors.
HttpResult Fetch(const std::string& method, const std::string& url, const std::string& body = {},
                 const std::vector<std::string>& headers = {}, long timeout_ms = 10'000);


/// From now on Fetch trusts the certificates in `pem_file` (instead of the system's): a test's
/// TLS proxy with a certificate of its own.
void TrustCertificates(const std::string& pem_file);

/// The value of cookie `name` in a Set-Cookie header line ("crm_session=abc; Path=/…" → "abc").
std::string CookieValue(const std::string& set_cookie, const std::string& name);

}  // namespace crm::testing
