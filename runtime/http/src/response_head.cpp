#include "crm/http/response_head.hpp"

#include <algorithm>
#include <array>
#include <boost/beast/http/status.hpp>
#include <charconv>
#include <cstring>

#include "head_chars.hpp"

namespace crm::http {
namespace {

namespace bhttp = boost::beast::http;
using head_chars::IEquals;
using head_chars::IsValueChar;
using head_chars::NameIs;
using head_chars::ScanConnection;

}  // namespace

HeadScan ScanResponseHead(std::string_view in, std::span<const bhttp::field> keep,
                          unsigned client_version, ResponseHead& head, std::string& out) {
  head = ResponseHead{};
  // Beyond the limit nothing is looked at: a head that has not ended by then is refused.
  const std::string_view window = in.substr(0, kMaxResponseHead);
  const HeadScan short_input = in.size() >= kMaxResponseHead ? HeadScan::kBad : HeadScan::kNeedMore;

  // status-line = HTTP-version SP status-code SP [reason-phrase] CRLF
  const std::size_t lf = window.find('\n');
  if (lf == std::string_view::npos) {
    // Fail early on bytes that cannot become a status line.
    return std::string_view("HTTP/").starts_with(window.substr(0, 5)) ? short_input
                                                                      : HeadScan::kBad;
  }
  std::string_view line = window.substr(0, lf);
  if (line.empty() || line.back() != '\r') {
    return HeadScan::kBad;  // a bare LF
  }
  line.remove_suffix(1);
  if (line.size() < 13 || !line.starts_with("HTTP/1.") || (line[7] != '0' && line[7] != '1') ||
      line[8] != ' ' || line[9] < '1' || line[9] > '9' || line[10] < '0' || line[10] > '9' ||
      line[11] < '0' || line[11] > '9' || line[12] != ' ') {
    return HeadScan::kBad;
  }
  if (!head_chars::AllValueChars(line.substr(13))) {
    return HeadScan::kBad;
  }
  head.version = line[7] == '1' ? 11 : 10;
  head.status =
      static_cast<unsigned>((line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0'));
  out.append(client_version >= 11 ? "HTTP/1.1 " : "HTTP/1.0 ")
      .append(line.substr(9, 3))
      .append(" ")
      .append(std::string_view(bhttp::obsolete_reason(bhttp::int_to_status(head.status))))
      .append("\r\n");

  bool close = false;
  bool keep_alive = false;
  std::uint32_t seen = 0;  // the keep fields already written
  const std::size_t kept = std::min<std::size_t>(keep.size(), 32);
  std::array<std::string_view, 32> kept_names;
  for (std::size_t i = 0; i < kept; ++i) {
    kept_names[i] = std::string_view(bhttp::to_string(keep[i]));
  }
  auto on_field = [&](std::string_view name, std::string_view value) {
    if (NameIs(name, "content-length")) {
      std::uint64_t length = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), length);
      // Also a sign, or anything but digits: from_chars takes neither.
      if (head.content_length || head.transfer_encoding || value.empty() || ec != std::errc{} ||
          end != value.data() + value.size()) {
        return false;
      }
      head.content_length = length;
    } else if (NameIs(name, "transfer-encoding")) {
      if (head.content_length) {
        return false;
      }
      head.transfer_encoding = true;
    } else if (NameIs(name, "connection")) {
      if (!ScanConnection(value, close, keep_alive)) {
        return false;
      }
    }
    for (std::size_t i = 0; i < kept; ++i) {
      if ((seen & (1u << i)) == 0 && IEquals(name, kept_names[i])) {
        seen |= 1u << i;
        out.append(kept_names[i]).append(": ").append(value).append("\r\n");
      }
    }
    return true;
  };
  bool complete = false;
  if (!head_chars::ScanFields(window, lf + 1, head.size, complete, on_field)) {
    return HeadScan::kBad;
  }
  if (!complete) {
    return short_input;
  }
  head.keep_alive = head.version >= 11 ? !close : keep_alive;
  return HeadScan::kDone;
}

}  // namespace crm::http
