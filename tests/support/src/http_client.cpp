#include "crm/testing/http_client.hpp"

#include <chrono>

#include "crm/http_client.hpp"

namespace crm::testing {
namespace {

std::string& TrustedCertificates() {
  static std::string file;
  return file;
}

}  // namespace

void TrustCertificates(const std::string& pem_file) {
  TrustedCertificates() = pem_file;
}

nlohmann::json HttpResult::Json() const {
  return nlohmann::json::parse(body, nullptr, false);
}

HttpResult Fetch(const std::string& method, const std::string& url, const std::string& body,
                 const std::vector<std::string>& headers, long timeout_ms) {
  HttpRequest request;
  request.method = method;
  request.url = url;
  request.body = body;
  request.headers = headers;
  request.timeout = std::chrono::milliseconds(timeout_ms);
  request.path_as_is = true;  // send "/api/../x" as written: tests probe the server
  request.ca_file = TrustedCertificates();
  HttpResponse response = HttpFetch(request);
  HttpResult result;
  result.status = response.status;
  result.error = std::move(response.error);
  result.headers = std::move(response.headers);
  result.body = std::move(response.body);
  result.seconds = std::chrono::duration<double>(response.elapsed).count();
  return result;
}

std::string CookieValue(const std::string& set_cookie, const std::string& name) {
  auto start = set_cookie.find(name + "=");
  if (start == std::string::npos) {
    return {};
  }
  start += name.size() + 1;
  return set_cookie.substr(start, set_cookie.find(';', start) - start);
}

}  // namespace crm::testing
