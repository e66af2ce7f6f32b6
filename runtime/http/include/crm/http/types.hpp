// The HTTP vocabulary every crmd component shares: request/response types, endpoints, the
// errors that carry a status code, and JSON replies.
#pragma once

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "crm/error.hpp"

namespace crm::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

/// One socket type for TCP and Unix sockets: slices listen on either.
using Protocol = asio::generic::stream_protocol;
using Stream = beast::basic_stream<Protocol>;
using Request = bhttp::request<bhttp::string_body>;
using Response = bhttp::response<bhttp::string_body>;
using Status = bhttp::status;

/// Where a server listens or a client connects: "127.0.0.1:8080", ":8080", "[::1]:80",
/// "unix:/run/crmd/slice-7.sock".
struct Endpoint {
  bool is_unix = false;
  std::string path;  ///< Unix socket path
  std::string host;  ///< numeric address
  unsigned short port = 0;
  Protocol::endpoint Generic() const;
  std::string ToString() const;
};
/// Throws InputError("listen: expected host:port or unix:/path, got …").
Endpoint ParseEndpoint(const std::string& text);

/// A request the client got wrong: answered with `status` (4xx) and the message.
class ClientError : public InputError {
 public:
  ClientError(Status status, const std::string& message, std::string field = {})
      : InputError(message), status_(status), field_(std::move(field)) {}
  Status status() const { return status_; }
  const std::string& field() const { return field_; }
  /// Seconds for a Retry-After header (429), 0 for none.
  std::chrono::seconds retry_after{0};

 private:
  Status status_;
  std::string field_;
};

/// We could not answer now (database down, slice restarting): 5xx, with Retry-After when the
/// condition is expected to pass.
class ServiceError : public RuntimeError {
 public:
  ServiceError(Status status, const std::string& message, std::chrono::seconds retry_after = {})
      : RuntimeError(message), status_(status), retry_after_(retry_after) {}
  Status status() const { return status_; }
  std::chrono::seconds retry_after() const { return retry_after_; }

 private:
  Status status_;
  std::chrono::seconds retry_after_;
};

/// {"error": message[, "field": field]} with `status`, JSON content type, no caching.
Response ErrorResponse(Status status, const std::string& message, const std::string& field = {});
/// `body` as JSON with `status`.
Response JsonResponse(Status status, const nlohmann::json& body);
/// The response for the exception in flight (call inside a catch block): ClientError and
/// ServiceError keep their status, InputError → 400, anything else → 500 (logged, details hidden).
Response ResponseForCurrentException(const Request& request);

/// Parses the body as a JSON object. Throws ClientError 415 when the Content-Type is not JSON,
/// 400 naming the line and column when it does not parse, 400 when it is not an object.
nlohmann::json ParseJsonBody(const Request& request);

/// Typed field readers for request bodies: each throws ClientError 400 naming the field.
std::string RequireString(const nlohmann::json& body, const std::string& field, std::size_t min_len,
                          std::size_t max_len);
std::optional<std::string> OptionalString(const nlohmann::json& body, const std::string& field,
                                          std::size_t min_len, std::size_t max_len);

/// The value of query parameter `name` in `target` ("/x?a=1&b=2"), percent-decoded.
std::optional<std::string> QueryParam(std::string_view target, std::string_view name);
/// The path of a target, without the query string.
std::string_view TargetPath(std::string_view target);
/// Percent-decodes; throws ClientError 400 on a malformed escape.
std::string PercentDecode(std::string_view text);

}  // namespace crm::http
