#include "crm/http/types.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/un.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <charconv>
#include <cstring>

namespace crm::http {

Protocol::endpoint Endpoint::Generic() const {
  if (is_unix) {
    return Protocol::endpoint(asio::local::stream_protocol::endpoint(path));
  }
  return Protocol::endpoint(asio::ip::tcp::endpoint(asio::ip::make_address(host), port));
}

std::string Endpoint::ToString() const {
  if (is_unix) {
    return "unix:" + path;
  }
  if (host.find(':') != std::string::npos) {
    return "[" + host + "]:" + std::to_string(port);
  }
  return host + ":" + std::to_string(port);
}

Endpoint ParseEndpoint(const std::string& text) {
  Endpoint ep;
  auto fail = [&](const std::string& why) -> Endpoint {
    throw InputError("expected host:port or unix:/path, got \"" + text + "\"" +
                     (why.empty() ? "" : ": " + why));
  };
  if (text.rfind("unix:", 0) == 0) {
    ep.is_unix = true;
    ep.path = text.substr(5);
    if (ep.path.empty() || ep.path.front() != '/') {
      return fail("the socket path must be absolute");
    }
    if (ep.path.size() >= sizeof(sockaddr_un::sun_path)) {
      return fail("the socket path is longer than " +
                  std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes");
    }
    return ep;
  }
  auto colon = text.rfind(':');
  if (colon == std::string::npos) {
    return fail("");
  }
  std::string host = text.substr(0, colon);
  std::string port = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) {
    host = "0.0.0.0";
  } else if (host == "localhost") {
    host = "127.0.0.1";
  }
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || value > 65535) {
    return fail("the port must be a number from 0 to 65535");
  }
  boost::system::error_code addr_ec;
  asio::ip::make_address(host, addr_ec);
  if (addr_ec) {
    return fail("\"" + host + "\" is not a numeric IP address");
  }
  ep.host = host;
  ep.port = static_cast<unsigned short>(value);
  return ep;
}

Response JsonResponse(Status status, const nlohmann::json& body) {
  Response res{status, 11};
  res.set(bhttp::field::content_type, "application/json");
  res.set(bhttp::field::cache_control, "no-store");
  res.body() = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  res.body() += '\n';
  return res;
}

Response ErrorResponse(Status status, const std::string& message, const std::string& field) {
  nlohmann::json body = {{"error", message}};
  if (!field.empty()) {
    body["field"] = field;
  }
  return JsonResponse(status, body);
}

namespace {

Response WithRetryAfter(Response res, std::chrono::seconds retry_after) {
  if (retry_after.count() > 0) {
    res.set(bhttp::field::retry_after, std::to_string(retry_after.count()));
  }
  return res;
}

}  // namespace

Response ResponseForCurrentException(const Request& request) {
  try {
    throw;
  } catch (const ClientError& e) {
    return ErrorResponse(e.status(), e.what());
  } catch (const ServiceError& e) {
    return ErrorResponse(e.status(), e.what());
  } catch (const Throttled& e) {
    return WithRetryAfter(ErrorResponse(Status::too_many_requests, e.what(), e.field()),
                          e.retry_after());
  } catch (const NotFound& e) {
    return ErrorResponse(Status::not_found, e.what(), e.field());
  } catch (const Conflict& e) {
    return ErrorResponse(Status::conflict, e.what(), e.field());
  } catch (const Unauthenticated& e) {
    return ErrorResponse(Status::unauthorized, e.what(), e.field());
  } catch (const Forbidden& e) {
    return ErrorResponse(Status::forbidden, e.what(), e.field());
  } catch (const InputError& e) {
    return ErrorResponse(Status::bad_request, e.what(), e.field());
  } catch (const Unavailable& e) {
    return WithRetryAfter(ErrorResponse(Status::service_unavailable, e.what()), e.retry_after());
  } catch (const std::exception& e) {
    spdlog::error("{} {}: internal error: {}", std::string(request.method_string()),
                  std::string(request.target()), e.what());
    return ErrorResponse(Status::internal_server_error,
                         "internal error; the operator's log has the details");
  }
}

nlohmann::json ParseJsonBody(const Request& request) {
  auto type = request[bhttp::field::content_type];
  auto semi = type.find(';');
  std::string_view media = type.substr(0, semi);
  while (!media.empty() && media.back() == ' ') {
    media.remove_suffix(1);
  }
  if (!beast::iequals(media, "application/json")) {
    throw ClientError(Status::unsupported_media_type,
                      "expected Content-Type: application/json, got \"" + std::string(type) + "\"");
  }
  nlohmann::json body;
  try {
    body = nlohmann::json::parse(request.body());
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte is the 1-based offset of the error; turn it into line:column for people.
    std::size_t line = 1;
    std::size_t col = 1;
    for (std::size_t i = 0; i + 1 < e.byte && i < request.body().size(); ++i) {
      if (request.body()[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    throw InputError("malformed JSON at line " + std::to_string(line) + " column " +
                     std::to_string(col));
  } catch (const nlohmann::json::exception& e) {
    // Well-formed but unrepresentable, such as a number beyond double's range (found by fuzzing).
    throw InputError(std::string("JSON not accepted: ") + e.what());
  }
  if (!body.is_object()) {
    throw InputError("expected a JSON object");
  }
  return body;
}

namespace {

std::size_t Utf8Length(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) {
      ++n;
    }
  }
  return n;
}

}  // namespace

std::optional<std::string> OptionalString(const nlohmann::json& body, const std::string& field,
                                          std::size_t min_len, std::size_t max_len) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) {
    return std::nullopt;
  }
  if (!it->is_string()) {
    throw InputError(field + ": expected a string", field);
  }
  std::string value = it->get<std::string>();
  std::size_t len = Utf8Length(value);
  if (len < min_len || len > max_len) {
    throw InputError(field + ": expected " + std::to_string(min_len) + " to " +
                         std::to_string(max_len) + " characters, got " + std::to_string(len),
                     field);
  }
  return value;
}

std::string RequireString(const nlohmann::json& body, const std::string& field, std::size_t min_len,
                          std::size_t max_len) {
  auto value = OptionalString(body, field, min_len, max_len);
  if (!value) {
    throw InputError(field + ": required", field);
  }
  return *value;
}

std::string PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= text.size()) {
        throw InputError("malformed percent-escape in the query string");
      }
      unsigned value = 0;
      auto [ptr, ec] = std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16);
      if (ec != std::errc() || ptr != text.data() + i + 3) {
        throw InputError("malformed percent-escape in the query string");
      }
      out += static_cast<char>(value);
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

std::string_view TargetPath(std::string_view target) {
  return target.substr(0, target.find('?'));
}

std::optional<std::string> QueryParam(std::string_view target, std::string_view name) {
  auto q = target.find('?');
  if (q == std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      return PercentDecode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) {
      break;
    }
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

}  // namespace crm::http
