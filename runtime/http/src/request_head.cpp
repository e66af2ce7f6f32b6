#include "crm/http/request_head.hpp"

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/rfc7230.hpp>

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
