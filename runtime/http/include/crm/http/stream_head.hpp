// Streamed answers (live events, exports, and the gateway's relay of both): the header goes out
// alone with chunked transfer encoding, then the body a chunk at a time. A stream is its
// connection's last answer, so the header says Connection: close.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <chrono>
#include <string_view>

#include "crm/http/message.hpp"

namespace crm::http {

using StreamHead = bhttp::response<bhttp::empty_body>;

/// 200 with `content_type`, never cached.
StreamHead StreamHeadFor(std::string_view content_type);

/// Sends `head` (made chunked, Connection: close) within `write_timeout` (the server's,
/// Exchange::write_timeout); the error, if any.
boost::asio::awaitable<beast::error_code> WriteStreamHead(Stream& stream, StreamHead& head,
                                                          std::chrono::milliseconds write_timeout);

}  // namespace crm::http
