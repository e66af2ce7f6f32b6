#include "export_routes.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/write.hpp>

#include "crm/http/stream_head.hpp"
#include "crm/slice/export.hpp"

namespace crm::slice {
namespace {

namespace asio = boost::asio;

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

// The next lines of the export ("" at its end), or nullopt when reading them failed (logged).
asio::awaitable<std::optional<std::string>> ReadPage(SliceContext& slice, SliceExport& out,
                                                     std::size_t lines) {
  try {
    for (;;) {
      auto page = [&out](pqxx::read_transaction& tx) { return out.NextPage(tx); };
      // Not a conditional expression of two co_awaits: GCC 12 frees its temporaries twice.
      std::string lines_read;
      if (out.in_queue()) {
        lines_read = co_await slice.queue.Read(page);
      } else {
        lines_read = co_await slice.db.Read(page);
      }
      if (!lines_read.empty() || out.done()) {
        co_return lines_read;
      }
    }
  } catch (const std::exception& e) {
    spdlog::error("slice {}: export cut short after {} lines: {}", slice.slice_id, lines, e.what());
  }
  co_return std::nullopt;
}

// The status goes out with the header: from there a failure can only cut the body short (no
// last chunk; the server closes the connection), which the client sees as an incomplete
// download, never as a complete one.
asio::awaitable<void> WriteExport(Exchange& ex, SliceContext& slice, SliceExport& out) {
  http::StreamHead head = http::StreamHeadFor("application/x-ndjson; charset=utf-8");
  head.set(bhttp::field::content_disposition, "attachment; filename=\"" + out.FileName() + "\"");
  auto& stream = ex.stream();
  boost::system::error_code ec = co_await http::WriteStreamHead(stream, head, ex.write_timeout());
  std::size_t n = 0;
  std::optional<std::string> page = out.HeaderLine(slice.slice_id);
  std::size_t lines = 0;
  while (!ec && page && !page->empty()) {
    stream.expires_after(ex.write_timeout());
    std::tie(ec, n) =
        co_await asio::async_write(stream, bhttp::make_chunk(asio::buffer(*page)), kUseTuple);
    lines += static_cast<std::size_t>(std::count(page->begin(), page->end(), '\n'));
    if (!ec) {
      page = co_await ReadPage(slice, out, lines);
    }
  }
  if (!page) {
    co_return;
  }
  if (!ec) {
    stream.expires_after(ex.write_timeout());
    std::tie(ec, n) = co_await asio::async_write(stream, bhttp::make_chunk_last(), kUseTuple);
  }
  if (ec) {
    spdlog::info("slice {}: export not finished, the client went after {} lines: {}",
                 slice.slice_id, lines, ec.message());
  }
}

}  // namespace

void AddExportRoutes(http::Router& router, SliceContext& slice) {
  // Streamed (chunked) a page at a time: one page of rows in memory, and a client that reads
  // slowly holds the next page back (the write waits) instead of letting it pile up.
  router.Add(bhttp::verb::get, "/api/export", [&slice](Exchange& ex) -> Reply {
    SliceExport out;
    co_await slice.db.Read([&out](pqxx::read_transaction& tx) { out.Begin(tx); });
    co_await slice.queue.Read([&out](pqxx::read_transaction& tx) { out.BeginQueue(tx); });
    co_await WriteExport(ex, slice, out);
    co_return std::nullopt;
  });
}

}  // namespace crm::slice
