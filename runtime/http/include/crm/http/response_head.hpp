// An upstream's response head scanned where it lies in the read buffer (Upstream::Pass), as
// nginx reads a backend's: the status, the framing (Content-Length, Transfer-Encoding,
// Connection) and the few fields the client gets, written straight into the client's head; no
// header container, no field table lookups. Strict: anything Beast's parser refuses is refused
// (bare CR or LF, obs-fold, control characters, an invalid name or status line, a head over
// kMaxResponseHead), and more (any duplicate Content-Length, Content-Length beside
// Transfer-Encoding); a refused head is the slice failing (502). Callable without a socket (the
// fuzzer compares it with Beast's parser).
#pragma once

#include <boost/beast/http/field.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace crm::http {

/// Beast's default for a response parser's header.
constexpr std::size_t kMaxResponseHead = 8192;

struct ResponseHead {
  unsigned version = 11;  ///< 10 or 11
  unsigned status = 0;    ///< 100-999
  std::size_t size = 0;   ///< bytes of the head, its blank line included
  std::optional<std::uint64_t> content_length;
  bool transfer_encoding = false;  ///< a Transfer-Encoding field was present
  bool keep_alive = true;          ///< as Beast's keep_alive() reads version and Connection
};

enum class HeadScan {
  kNeedMore,  ///< no complete head yet, nothing wrong so far
  kDone,      ///< `head` describes it
  kBad,       ///< not a valid response head (or over kMaxResponseHead)
};

/// Scans the head at the start of `in`. On kDone, `out` holds the client's status line
/// ("HTTP/1.1 200 OK", or 1.0 when `client_version` < 11, with the standard reason) and the first
/// of each `keep` field ("Name: value", the name as Beast spells it), each ended by CRLF; on
/// other results `out` holds anything.
HeadScan ScanResponseHead(std::string_view in, std::span<const boost::beast::http::field> keep,
                          unsigned client_version, ResponseHead& head, std::string& out);

}  // namespace crm::http
