#include "event_routes.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/write.hpp>

#include "crm/http/response.hpp"
#include "crm/http/stream_head.hpp"

namespace crm::slice {
namespace {

namespace asio = boost::asio;

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

// Writes the subscriber's pending frames, or a ping after 15 s without any, until the client
// goes, falls too far behind, or the server stops.
asio::awaitable<boost::system::error_code> Pump(http::Stream& stream, Exchange& ex,
                                                EventHub::Subscriber& subscriber,
                                                asio::steady_timer& timer, const bool& stop,
                                                const bool& gone) {
  boost::system::error_code ec;
  std::size_t n = 0;
  while (!ec && !stop && !gone && !ex.stopping()) {
    // Swapped with the subscriber's empty queue: a stream waiting for events holds no buffer.
    std::vector<std::string> batch;
    bool overflowed = false;
    {
      std::lock_guard lock(subscriber.mutex);
      batch.swap(subscriber.pending);
      overflowed = subscriber.overflowed;
    }
    if (overflowed) {
      break;  // the client fell too far behind; it reconnects (retry:) and reloads
    }
    for (const auto& frame : batch) {
      stream.expires_after(ex.write_timeout());
      std::tie(ec, n) =
          co_await asio::async_write(stream, bhttp::make_chunk(asio::buffer(frame)), kUseTuple);
      if (ec) {
        break;
      }
    }
    if (batch.empty() && !ec) {
      timer.expires_after(std::chrono::seconds(15));
      auto [wait_ec] = co_await timer.async_wait(kUseTuple);
      if (!wait_ec) {
        static const std::string kPing = ": ping\n\n";
        stream.expires_after(ex.write_timeout());
        std::tie(ec, n) =
            co_await asio::async_write(stream, bhttp::make_chunk(asio::buffer(kPing)), kUseTuple);
      }
    }
  }
  co_return ec;
}

}  // namespace

void AddEventRoutes(http::Router& router, SliceContext& slice) {
  router.Add(bhttp::verb::get, "/api/events", [&slice](Exchange& ex) -> Reply {
    auto executor = co_await asio::this_coro::executor;
    auto timer = std::make_shared<asio::steady_timer>(executor);
    auto subscriber = slice.events.Subscribe(
        [timer, executor] { asio::post(executor, [timer] { timer->cancel(); }); });
    if (!subscriber) {
      // Before the stream head is written: the gateway relays this answer as it is.
      Response res = http::ErrorResponse(
          Status::too_many_requests, "too many event streams open for this workspace (at most " +
                                         std::to_string(slice.events.max_subscribers()) +
                                         "); close another tab or window of the app and retry");
      res.set(bhttp::field::retry_after, "10");
      co_return res;
    }
    bool stop = false;
    ex.OnStop([timer, &stop] {
      stop = true;
      timer->cancel();
    });
    auto& stream = ex.stream();
    boost::system::error_code ec;
    {  // the head and the greeting are freed before the stream starts waiting
      http::StreamHead head = http::StreamHeadFor("text/event-stream");
      ec = co_await http::WriteStreamHead(stream, head, ex.write_timeout());
      std::string hello =
          "retry: 2000\n: connected to slice " + std::to_string(slice.slice_id) + "\n\n";
      if (!ec) {
        std::size_t n = 0;
        std::tie(ec, n) =
            co_await asio::async_write(stream, bhttp::make_chunk(asio::buffer(hello)), kUseTuple);
      }
    }
    // The client (the gateway's relay) sends nothing after its request: its socket turning
    // readable means it went away, and the stream's place is freed now, not at the next ping.
    auto gone = std::make_shared<bool>(false);
    stream.socket().async_wait(asio::socket_base::wait_read,
                               [timer, gone](boost::system::error_code wait_ec) {
                                 if (!wait_ec) {
                                   *gone = true;
                                   timer->cancel();
                                 }
                               });
    if (!ec) {
      ec = co_await Pump(stream, ex, *subscriber, *timer, stop, *gone);
    }
    boost::system::error_code cancel_ec;
    stream.socket().cancel(cancel_ec);
    slice.events.Unsubscribe(subscriber);
    ex.OnStop(nullptr);
    if (!ec && !*gone) {
      stream.expires_after(std::chrono::seconds(1));
      co_await asio::async_write(stream, bhttp::make_chunk_last(), kUseTuple);
    }
    co_return std::nullopt;
  });
}

}  // namespace crm::slice
