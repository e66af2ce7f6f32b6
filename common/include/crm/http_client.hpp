// The one HTTP client (libcurl) for every call the project makes to another server: Meta's Graph
// API, the gateway's admin API from crmctl, health checks while applying, and the tests.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace crm {

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;  ///< "Name: value" lines
  /// Sent as is; also sent (empty) for POST, PUT and PATCH.
  std::string body;
  std::chrono::milliseconds timeout{30'000};
  /// Bytes of the answer's body kept; the rest is read and dropped.
  std::size_t response_limit = std::size_t{64} << 20;
  /// Send the path as written ("/api/../x" stays): tests probe how a server treats it.
  bool path_as_is = false;
  /// Only these URL schemes are followed (never file:, ftp:, …).
  std::string protocols = "http,https";
  /// PEM file of the certificates to trust instead of the system's (a test's own proxy); empty:
  /// the system's.
  std::string ca_file;
};

struct HttpResponse {
  long status = 0;    ///< 0 when no answer arrived; see `error`
  std::string error;  ///< the transport's reason when status is 0 ("Couldn't connect to server")
  /// The final answer's headers, names lower-cased; a repeated header's values joined by "\n".
  std::map<std::string, std::string> headers;
  std::string body;
  std::chrono::steady_clock::duration elapsed{};

  /// The value of header `name` (lower-case), if present.
  std::optional<std::string> Header(const std::string& name) const;
};

/// Sends requests and keeps its connections open between calls (keep-alive), up to
/// `max_connections`. Thread-safe: concurrent calls are served one after the other. Transport
/// failures never throw: they come back as status 0 with `error` set.
class HttpClient {
 public:
  explicit HttpClient(std::size_t max_connections = 8);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpResponse Fetch(const HttpRequest& request);

  /// All of `requests`, at most `concurrency` (≥ 1) in flight at once; answers in the same order.
  std::vector<HttpResponse> FetchAll(const std::vector<HttpRequest>& requests,
                                     std::size_t concurrency);

 private:
  class Transfers;
  std::unique_ptr<Transfers> transfers_;
};

/// One request on a client of its own (no connection kept): for one-off calls.
HttpResponse HttpFetch(const HttpRequest& request);

/// GET `url` within `timeout`, on a client of its own (health probes).
HttpResponse HttpGet(const std::string& url, std::chrono::milliseconds timeout);

}  // namespace crm
