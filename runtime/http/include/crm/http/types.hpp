// The HTTP vocabulary every crmd component shares: request/response types, endpoints, the
// protocol-level errors that carry a status code, and JSON replies.
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

/// A request the HTTP layer itself refuses, with a status no domain error carries (415: a body
/// of the wrong media type). Domain code throws crm/error.hpp's errors instead.
class ClientError : public InputError {
 public:
  ClientError(Status status, const std::string& message) : InputError(message), status_(status) {}
  Status status() const { return status_; }

 private:
  Status status_;
};

/// An upstream (a slice behind the proxy) failed while answering (502) or did not answer in time
/// (504): only the proxy raises these. Domain code throws crm::Unavailable for a 503.
class ServiceError : public RuntimeError {
 public:
  ServiceError(Status status, const std::string& message)
      : RuntimeError(message), status_(status) {}
  Status status() const { return status_; }

 private:
  Status status_;
};

/// {"error": message[, "field": field]} with `status`, JSON content type, no caching.
Response ErrorResponse(Status status, const std::string& message, const std::string& field = {});
/// `body` as JSON with `status`.
Response JsonResponse(Status status, const nlohmann::json& body);
/// The response for the exception in flight (call inside a catch block), the one place domain
/// errors become status codes: InputError 400, NotFound 404, Conflict 409, Unauthenticated 401,
/// Forbidden 403, Throttled 429, Unavailable 503 (both with Retry-After when known; "field" in
/// the body when the error names one); ClientError and ServiceError keep their status; anything
/// else is 500 (logged, details hidden).
Response ResponseForCurrentException(const Request& request);

/// Parses the body as a JSON object. Throws ClientError 415 when the Content-Type is not JSON,
/// InputError naming the line and column when it does not parse, or when it is not an object.
nlohmann::json ParseJsonBody(const Request& request);

/// Typed field readers for request bodies: each throws InputError naming the field.
std::string RequireString(const nlohmann::json& body, const std::string& field, std::size_t min_len,
                          std::size_t max_len);
std::optional<std::string> OptionalString(const nlohmann::json& body, const std::string& field,
                                          std::size_t min_len, std::size_t max_len);

/// The value of query parameter `name` in `target` ("/x?a=1&b=2"), percent-decoded.
std::optional<std::string> QueryParam(std::string_view target, std::string_view name);
/// The path of a target, without the query string.
std::string_view TargetPath(std::string_view target);
/// Percent-decodes; throws InputError on a malformed escape.
std::string PercentDecode(std::string_view text);

}  // namespace crm::http
