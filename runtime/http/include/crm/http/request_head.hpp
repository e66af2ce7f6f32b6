// How the server reads a request before its body: the parser's limits, and the checks that refuse
// a request on its header alone (docs/api.md, "Limits on the wire"), callable without a socket (the
// fuzzer).
#pragma once

#include <boost/beast/http/parser.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "crm/http/limits.hpp"
#include "crm/http/message.hpp"

namespace crm::http {

using RequestParser = bhttp::request_parser<bhttp::string_body>;

/// A request the server answers with `status` and then closes the connection without reading on.
struct HeadRefusal {
  Status status;
  std::string message;
};

/// Sets the header limit and a body limit no route exceeds; CheckBodyLimit narrows it per route.
void PrepareParser(RequestParser& parser, const ServerLimits& limits);

/// What to answer when reading the header failed with `ec`: 431 over the header limit, 413 when
/// the declared length is over every limit, 400 when the bytes are not HTTP; nullopt when the
/// client went away or timed out (nothing to answer).
std::optional<HeadRefusal> RefusalForHeaderError(boost::system::error_code ec,
                                                 const ServerLimits& limits);

/// After the header: a Transfer-Encoding other than exactly "chunked" is refused (501), since
/// its body's length is unknown and must never be read as the next request.
std::optional<HeadRefusal> CheckFraming(const RequestParser& parser);

/// Sets the parser's body limit to its route's; refuses (413) a declared length over it.
std::optional<HeadRefusal> CheckBodyLimit(RequestParser& parser, const ServerLimits& limits);

/// "request body larger than N bytes".
std::string BodyTooLargeMessage(std::uint64_t limit);

/// The usual request taken without Beast's parser (Connection::Next's hot path): a head whole at
/// the start of `in` and within `header_limit`, with no body (no Content-Length, no
/// Transfer-Encoding, no Upgrade), HTTP/1.0 or 1.1, every byte valid, at most 32 fields. Then
/// `request` (fresh) receives its method, target, version and fields in order, `size` the head's
/// length, and the result is true. False for anything else, `request` then left in any state:
/// a head not yet whole, one with a body, one Beast's parser might refuse or read otherwise. The
/// caller reads those with Beast's parser, which answers what it refuses (400, 413, 431, 501); so
/// every head taken here is one Beast's parser takes alike (the fuzzer compares them).
bool TakeSimpleRequest(std::string_view in, std::uint32_t header_limit, Request& request,
                       std::size_t& size);

/// What the server makes of `bytes` as one connection's input, without a socket: requests are
/// parsed, checked and counted one after another until the input ends or one is refused.
struct ParsedInput {
  std::size_t requests = 0;            ///< complete requests a handler would have seen
  std::optional<HeadRefusal> refusal;  ///< why the connection ended, when it was refused
};
ParsedInput ParseRequests(std::string_view bytes, const ServerLimits& limits);

}  // namespace crm::http
