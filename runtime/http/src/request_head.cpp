#include "crm/http/request_head.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <utility>

#include "head_chars.hpp"

namespace crm::http {
namespace {

std::uint64_t LargestBodyLimit(const ServerLimits& limits) {
  std::uint64_t largest = limits.body_limit;
  for (const auto& [prefix, limit] : limits.body_limit_for) {
    largest = std::max(largest, limit);
  }
  return largest;
}

}  // namespace

void PrepareParser(RequestParser& parser, const ServerLimits& limits) {
  parser.header_limit(limits.header_limit);
  parser.body_limit(LargestBodyLimit(limits));
}

std::optional<HeadRefusal> RefusalForHeaderError(boost::system::error_code ec,
                                                 const ServerLimits& limits) {
  if (ec == bhttp::error::header_limit) {
    return HeadRefusal{
        Status::request_header_fields_too_large,
        "request headers larger than " + std::to_string(limits.header_limit) + " bytes"};
  }
  if (ec == bhttp::error::body_limit) {
    return HeadRefusal{Status::payload_too_large, BodyTooLargeMessage(LargestBodyLimit(limits))};
  }
  if (ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category() &&
      ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message &&
      ec != bhttp::error::need_more) {
    return HeadRefusal{Status::bad_request, "malformed HTTP request: " + ec.message()};
  }
  return std::nullopt;
}

std::optional<HeadRefusal> CheckFraming(const RequestParser& parser) {
  const Request& req = parser.get();
  // Every Transfer-Encoding field together must name exactly one coding, chunked: Beast frames
  // any other list by Content-Length (or none), which would read the body as a request.
  if (req.find(bhttp::field::transfer_encoding) == req.end()) {
    return std::nullopt;
  }
  std::size_t codings = 0;
  bool only_chunked = true;
  for (auto it = req.find(bhttp::field::transfer_encoding);
       it != req.end() && it->name() == bhttp::field::transfer_encoding; ++it) {
    for (const auto& coding : bhttp::token_list{it->value()}) {
      ++codings;
      only_chunked = only_chunked && beast::iequals(coding, "chunked");
    }
  }
  if (codings != 1 || !only_chunked) {
    return HeadRefusal{Status::not_implemented,
                       "Transfer-Encoding \"" + std::string(req[bhttp::field::transfer_encoding]) +
                           "\" is not supported: send the body with Content-Length or chunked"};
  }
  return std::nullopt;
}

std::optional<HeadRefusal> CheckBodyLimit(RequestParser& parser, const ServerLimits& limits) {
  std::uint64_t limit = limits.BodyLimitFor(parser.get().target());
  parser.body_limit(limit);
  if (parser.content_length() && *parser.content_length() > limit) {
    return HeadRefusal{Status::payload_too_large, BodyTooLargeMessage(limit)};
  }
  return std::nullopt;
}

bool TakeSimpleRequest(std::string_view in, std::uint32_t header_limit, Request& request,
                       std::size_t& size) {
  using head_chars::IsTchar;
  const std::string_view window = in.substr(0, header_limit);
  // request-line = method SP request-target SP HTTP-version CRLF
  const std::size_t lf = window.find('\n');
  if (lf == std::string_view::npos || lf == 0 || window[lf - 1] != '\r') {
    return false;
  }
  const std::string_view line = window.substr(0, lf - 1);
  std::size_t method_end = 0;
  while (method_end < line.size() && IsTchar(line[method_end])) {
    ++method_end;
  }
  if (method_end == 0 || method_end == line.size() || line[method_end] != ' ') {
    return false;
  }
  // Visible ASCII only (Beast also takes obs-text: those go to its parser).
  std::size_t target_end = method_end + 1;
  while (target_end < line.size() && line[target_end] > 0x20 && line[target_end] < 0x7f) {
    ++target_end;
  }
  if (target_end == method_end + 1 || target_end == line.size() || line[target_end] != ' ') {
    return false;
  }
  const std::string_view version = line.substr(target_end + 1);
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    return false;
  }
  std::array<std::pair<std::string_view, std::string_view>, 32> fields;
  std::size_t count = 0;
  auto on_field = [&](std::string_view name, std::string_view value) {
    using head_chars::NameIs;
    if (count == fields.size() || NameIs(name, "content-length") ||
        NameIs(name, "transfer-encoding") || NameIs(name, "upgrade")) {
      return false;
    }
    bool close = false;
    bool keep_alive = false;
    if ((NameIs(name, "connection") || NameIs(name, "proxy-connection")) &&
        !head_chars::ScanConnection(value, close, keep_alive)) {
      return false;
    }
    fields[count++] = {name, value};
    return true;
  };
  bool complete = false;
  if (!head_chars::ScanFields(window, lf + 1, size, complete, on_field) || !complete) {
    return false;
  }
  const std::string_view method = line.substr(0, method_end);
  const bhttp::verb verb = bhttp::string_to_verb(method);
  if (verb != bhttp::verb::unknown) {
    request.method(verb);
  } else {
    request.method_string(method);
  }
  request.target(line.substr(method_end + 1, target_end - method_end - 1));
  request.version(version == "HTTP/1.1" ? 11 : 10);
  for (std::size_t i = 0; i < count; ++i) {
    request.insert(fields[i].first, fields[i].second);
  }
  return true;
}

std::string BodyTooLargeMessage(std::uint64_t limit) {
  return "request body larger than " + std::to_string(limit) + " bytes";
}

ParsedInput ParseRequests(std::string_view bytes, const ServerLimits& limits) {
  ParsedInput out;
  while (!bytes.empty()) {
    RequestParser parser;
    PrepareParser(parser, limits);
    parser.eager(false);
    boost::system::error_code ec;
    // The header first, as the server reads it, then the checks, then the body.
    while (!parser.is_header_done() && !bytes.empty()) {
      std::size_t used = parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
      bytes.remove_prefix(used);
      if (ec == bhttp::error::need_more || (!ec && used == 0)) {
        break;
      }
      if (ec) {
        out.refusal = RefusalForHeaderError(ec, limits);
        return out;
      }
    }
    if (!parser.is_header_done()) {
      return out;  // the input ended inside a header
    }
    if ((out.refusal = CheckFraming(parser)) || (out.refusal = CheckBodyLimit(parser, limits))) {
      return out;
    }
    parser.eager(true);
    while (!parser.is_done() && !bytes.empty()) {
      std::size_t used = parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
      bytes.remove_prefix(used);
      if (ec == bhttp::error::need_more || (!ec && used == 0)) {
        break;
      }
      if (ec == bhttp::error::body_limit) {
        out.refusal = HeadRefusal{Status::payload_too_large,
                                  BodyTooLargeMessage(limits.BodyLimitFor(parser.get().target()))};
        return out;
      }
      if (ec) {
        return out;  // the server closes without an answer on a malformed body
      }
    }
    if (!parser.is_done()) {
      return out;  // the input ended inside a body
    }
    ++out.requests;
    if (!parser.get().keep_alive()) {
      return out;
    }
  }
  return out;
}

}  // namespace crm::http
