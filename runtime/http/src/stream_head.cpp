#include "crm/http/stream_head.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>

namespace crm::http {

StreamHead StreamHeadFor(std::string_view content_type) {
  StreamHead head{Status::ok, 11};
  head.set(bhttp::field::content_type, content_type);
  head.set(bhttp::field::cache_control, "no-store");
  return head;
}

boost::asio::awaitable<beast::error_code> WriteStreamHead(Stream& stream, StreamHead& head,
                                                          std::chrono::milliseconds write_timeout) {
  head.chunked(true);
  head.keep_alive(false);
  bhttp::response_serializer<bhttp::empty_body> serializer{head};
  stream.expires_after(write_timeout);
  auto [ec, n] = co_await bhttp::async_write_header(
      stream, serializer, boost::asio::as_tuple(boost::asio::use_awaitable));
  co_return ec;
}

}  // namespace crm::http
