// libFuzzer target: an upstream's response head as Upstream::Pass scans it
// (crm/http/response_head.hpp), against Beast's parser on the same bytes. A head the scan takes
// without Transfer-Encoding (Pass leaves those to Beast's parser) must be one Beast takes, with the
// same status, version, length, head size and keep-alive; a head the scan still waits on must not
// be one Beast has finished. The scan may refuse more
// than Beast (duplicate lengths, a length beside Transfer-Encoding). Never a crash or a hang.
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "crm/http/response_head.hpp"

namespace {

namespace bhttp = boost::beast::http;

constexpr bhttp::field kKeep[] = {bhttp::field::content_type, bhttp::field::location,
                                  bhttp::field::cache_control, bhttp::field::retry_after,
                                  bhttp::field::etag};

void Check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  crm::http::ResponseHead head;
  std::string out;
  crm::http::HeadScan scan = crm::http::ScanResponseHead(bytes, kKeep, 11, head, out);

  bhttp::response_parser<bhttp::empty_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(crm::http::kMaxResponseHead));
  parser.eager(false);
  parser.body_limit(boost::none);  // Upstream::Pass bounds the length itself
  boost::system::error_code ec;
  std::size_t used = parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
  const bool beast_done = !ec && parser.is_header_done();

  if (scan == crm::http::HeadScan::kNeedMore) {
    Check(!beast_done);
  }
  // With Transfer-Encoding, Upstream::Pass reads the answer with Beast's parser.
  if (scan == crm::http::HeadScan::kDone && !head.transfer_encoding) {
    Check(beast_done);
    Check(used == head.size);
    Check(parser.get().result_int() == head.status);
    Check(parser.get().version() == head.version);
    Check(static_cast<bool>(parser.content_length()) == static_cast<bool>(head.content_length));
    if (head.content_length) {
      Check(*parser.content_length() == *head.content_length);
    }
    Check(!parser.chunked());
    // Beast's keep_alive also says no for a body ended by the connection's close: the scan's
    // caller reads those with Beast's parser.
    if (head.content_length) {
      Check(parser.keep_alive() == head.keep_alive);
    }
    Check(out.starts_with("HTTP/1.1 "));
    Check(out.size() >= 2 && out.ends_with("\r\n"));
  }
  return 0;
}
