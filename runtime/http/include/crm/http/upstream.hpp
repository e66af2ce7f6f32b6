// The client side of the proxy: keep-alive connections to one upstream (a slice's Unix socket
// or loopback port), and a relay for streamed responses (server-sent events).
#pragma once

#include <array>
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>

#include "crm/http/endpoint.hpp"
#include "crm/http/message.hpp"
#include "crm/http/server.hpp"

namespace crm::http {

class Upstream : public std::enable_shared_from_this<Upstream> {
 public:
  /// A socket is created on the io_context of the coroutine that needs it, and kept idle for
  /// connections of that context only (IoPool: each context is one thread's).
  Upstream(Endpoint endpoint, std::size_t max_idle, std::chrono::milliseconds timeout)
      : endpoint_(std::move(endpoint)), max_idle_(max_idle), timeout_(timeout) {}
  ~Upstream();
  Upstream(const Upstream&) = delete;
  Upstream& operator=(const Upstream&) = delete;

  // Requests are taken by reference: GCC 12 relocates a coroutine's by-value parameters bitwise,
  // which breaks Beast's header containers. The caller keeps `request` alive across the co_await.

  /// Sends `request` and reads the whole response, reusing an idle connection when there is one
  /// (idle for less than 20 s: the slice closes them after 60 s). When a reused connection turns
  /// out closed before any answer, an idempotent request (GET, HEAD, PUT, DELETE, OPTIONS) is
  /// retried once on a fresh connection; others are retried only if they could not be written.
  /// Throws Unavailable (503, Retry-After 1) when the upstream cannot be reached, ServiceError
  /// 502 when it failed while answering, 504 when it did not answer within the timeout.
  asio::awaitable<Response> Send(Request& request);

  /// Sends a request the caller wrote out itself (`head`: the request line and fields, up to
  /// and with the blank line; `body`: as many bytes as its Content-Length says) and passes the
  /// response to the client of `exchange` as it arrives, as nginx does: no header container
  /// on either side, the head written straight from the upstream's, the body from the read
  /// buffer. The client's head keeps the status, the first of each `keep` field of the
  /// upstream's head, then `extra` (whole header lines), Content-Length (none on 1xx, 204 and
  /// 304; the upstream's on the answer to a HEAD, which has no body) and what its connection's
  /// keep-alive needs. A body of unknown length (chunked) is read whole first, to give its
  /// length. Reuse, retries and errors before any byte reached the client are
  /// Send's; once the head went out, an upstream failing mid-body or a client not taking
  /// the answer within the server's write timeout ends the client's connection (Content-Length
  /// shows the cut). Calls exchange.Answered: the handler then returns std::nullopt. Keep
  /// `head`, `body`, `keep`, `extra` and the request alive across the co_await.
  asio::awaitable<void> Pass(Exchange& exchange, std::string_view head, std::string_view body,
                             std::span<const bhttp::field> keep, std::string_view extra);

  /// How a relayed stream may end.
  enum class StreamEnd {
    /// A live stream (server-sent events): cut when the server stops, and always ended with the
    /// last chunk, since the client reconnects however it ended.
    kLive,
    /// A download (an export): the client gets the last chunk only when the upstream's body
    /// ended properly; otherwise its connection is closed mid-body, so a cut-short download
    /// cannot pass for a complete one. Each read from the upstream waits at most the timeout;
    /// a server shutting down lets it finish within the drain time.
    kDownload,
  };

  /// Sends `request` on a fresh connection and relays the response to the client of `exchange`
  /// as it arrives (chunked), until either side ends or (kLive) the server stops. A handler's
  /// whole answer (nullopt: the connection was taken over); it keeps this Upstream alive (it is
  /// owned by a shared_ptr) until it ends.
  Reply Relay(Request request, Exchange& exchange, StreamEnd end = StreamEnd::kLive);

  const Endpoint& endpoint() const { return endpoint_; }

 private:
  struct Opened;
  asio::awaitable<std::unique_ptr<Stream>> Connect();
  /// An idle connection made on `context` that is not stale, or nullptr.
  std::unique_ptr<Stream> TakeIdle(const asio::execution_context* context);
  /// Keeps `stream` (its response read in full, nothing left over) for the next request.
  void KeepIdle(std::unique_ptr<Stream> stream, const asio::execution_context* context);
  /// Throws what a request that got no (complete) response head because of `ec` answers.
  [[noreturn]] void ThrowFailed(const boost::system::error_code& ec, std::size_t received) const;
  /// After writing (`wrote`) or reading (`received`, `read` bytes) a request's exchange failed:
  /// true when it may be sent again on a new connection, else throws as ThrowFailed.
  bool ResendOrThrow(bool reused, int attempt, std::size_t read,
                     const boost::system::error_code& wrote,
                     const boost::system::error_code& received,
                     boost::beast::http::verb method) const;
  /// Sends `request` on a fresh connection, reads the response's head and writes it to `down`
  /// within `write_timeout`.
  asio::awaitable<std::unique_ptr<Opened>> Open(Request request, Stream& down,
                                                std::chrono::milliseconds write_timeout);
  struct Idle {
    std::unique_ptr<Stream> stream;
    std::chrono::steady_clock::time_point since;
  };
  /// The idle connections of one io_context: each event loop takes and keeps its own under a
  /// lock only it uses, so no cache line moves between the loops' cores on a request
  /// (docs/benchmarks.md, "Gateway proxy").
  struct alignas(64) ContextIdle {
    explicit ContextIdle(const asio::execution_context* c) : context(c) {}
    const asio::execution_context* const context;
    std::mutex mutex;
    std::deque<Idle> idle;
  };
  /// Up to kContexts io_contexts keep idle connections; a further one opens a connection per
  /// request (IoPool has one context per I/O thread: CRM_IO_THREADS, a handful).
  static constexpr std::size_t kContexts = 16;
  /// `context`'s idle connections, made on first use; nullptr when kContexts others have them.
  ContextIdle* IdleOf(const asio::execution_context* context);

  Endpoint endpoint_;
  std::size_t max_idle_;  ///< per io_context
  std::chrono::milliseconds timeout_;
  std::array<std::atomic<ContextIdle*>, kContexts> contexts_{};
};

}  // namespace crm::http
