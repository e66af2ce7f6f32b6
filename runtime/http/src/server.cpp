#include "crm/http/server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <pthread.h>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <csignal>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>

#include "crm/error.hpp"
#include "crm/http/deadline.hpp"
#include "crm/http/query.hpp"
#include "crm/http/request_head.hpp"
#include "crm/http/response.hpp"

namespace crm::http {
namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
// For the hot path's reads and writes: awaited as they are, with no coroutine frame of their own
// (use_awaitable wraps each operation in one, an allocation per read or write).
constexpr auto kDeferredTuple = asio::as_tuple(asio::deferred);
constexpr std::chrono::seconds kStreamGrace{1};
// What a keep-alive connection reads first of its next request: enough for a typical request
// head, small beside the per-connection cost of an open event stream (docs/benchmarks.md,
// "Gateway").
constexpr std::size_t kFirstRead = 1024;
// The most a connection's read buffer keeps between requests.
constexpr std::size_t kKeptBuffer = 4096;

template <class Socket>
std::string PeerAddress(const Socket& socket) {
  boost::system::error_code ec;
  auto ep = socket.remote_endpoint(ec);
  if (ec) {
    return "unknown";
  }
  char buf[INET6_ADDRSTRLEN] = {};
  const auto* sa = reinterpret_cast<const sockaddr*>(ep.data());
  if (sa->sa_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof buf);
    return buf;
  }
  if (sa->sa_family == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof buf);
    return buf;
  }
  return "unix";
}

// Answers 503 to a connection the server will not serve, without waiting: the answer is small
// enough for any fresh socket's send buffer, and a client that does not read it loses nothing.
template <class Socket>
void TurnAway(Socket& socket, const std::string& message) {
  std::string body = nlohmann::json{{"error", message}}.dump();
  std::string response =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: "
      "5\r\nConnection: close\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  boost::system::error_code ec;
  socket.non_blocking(true, ec);
  socket.write_some(asio::buffer(response), ec);
  socket.shutdown(Socket::shutdown_both, ec);
  socket.close(ec);
}

}  // namespace

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Server& server, Protocol::socket socket, std::string peer)
      : server_(server),
        peer_(std::move(peer)),
        stream_(std::move(socket)),
        deadline_(Deadlines::Of(stream_.get_executor()), &stream_.socket()),
        kill_timer_(stream_.get_executor()) {}

  asio::awaitable<void> Run();

  /// A request read in full, with what the head check noted for its handler.
  struct Incoming {
    Request request;
    std::any note;
    std::chrono::steady_clock::time_point started;
  };

  /// From any thread: the server is shutting down.
  void Stop() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      self->stopping_ = true;
      if (!self->busy_) {
        self->Close();
        return;
      }
      if (self->on_stop_) {
        self->on_stop_();
        self->kill_timer_.expires_after(kStreamGrace);
        self->kill_timer_.async_wait([self](boost::system::error_code ec) {
          if (!ec) {
            self->Close();
          }
        });
      }
    });
  }

  /// From any thread: close now (the drain deadline passed).
  void Kill() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] { self->Close(); });
  }

  void Close() {
    boost::system::error_code ec;
    stream_.socket().shutdown(Protocol::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

  Stream& stream() { return stream_; }
  Deadlines& deadlines() { return deadline_.deadlines(); }
  Deadline& deadline() { return deadline_; }
  std::any& connection_note() { return connection_note_; }
  const std::string& peer() const { return peer_; }
  bool stopping() const { return stopping_; }
  std::chrono::milliseconds write_timeout() const { return server_.limits_.write_timeout; }
  /// A handler that holds the connection for long (a stream) names what wakes it on shutdown:
  /// the read buffer, kept between requests, is released then (an empty buffer holds nothing).
  void OnStop(std::function<void()> cb) {
    if (cb && buffer_.size() == 0) {
      buffer_.shrink_to_fit();
    }
    on_stop_ = std::move(cb);
  }

 private:
  asio::awaitable<std::unique_ptr<Incoming>> Next(bool first);
  std::unique_ptr<Incoming> TakeSimple();
  std::unique_ptr<Incoming> TakeWhole(RequestParser& parser, boost::system::error_code& ec);
  asio::awaitable<std::unique_ptr<Incoming>> ReadOn(std::unique_ptr<RequestParser> parser,
                                                    boost::system::error_code ec);

  // Answers `status` and ends the connection: the request cannot be read any further.
  asio::awaitable<void> Refuse(Status status, const std::string& message) {
    Response res = ErrorResponse(status, message);
    res.keep_alive(false);
    res.prepare_payload();
    co_await Write(res);
    co_await Linger();
  }

  // The answer is written but the client may still be sending the request's body. Closing now
  // would reset the connection, and a reset can arrive before the client has read the answer
  // (curl then reports a broken pipe, not the 413). So: end our side, then read and discard
  // until the client closes or linger_timeout passes, in a small buffer that holds nothing.
  asio::awaitable<void> Linger() {
    boost::system::error_code ec;
    stream_.socket().shutdown(Protocol::socket::shutdown_send, ec);
    if (ec) {
      co_return;
    }
    stream_.expires_after(server_.limits_.linger_timeout);
    std::array<char, 4096> discard;
    for (;;) {
      auto [rec, n] = co_await stream_.async_read_some(asio::buffer(discard), kUseTuple);
      if (rec) {
        break;
      }
    }
  }

  asio::awaitable<void> Write(Response& res) {
    stream_.expires_after(server_.limits_.write_timeout);
    co_await bhttp::async_write(stream_, res, kUseTuple);
  }

  void Observe(unsigned status, std::chrono::steady_clock::time_point started) {
    if (server_.metrics_ != nullptr) {
      server_.metrics_->ObserveRequest(
          status,
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    }
  }
  void Observe(const Response& res, std::chrono::steady_clock::time_point started) {
    Observe(static_cast<unsigned>(res.result_int()), started);
  }

  Server& server_;
  std::string peer_;
  Stream stream_;
  /// The wait for a kept-alive connection's next request (the hot path; the rarer waits use
  /// stream_'s own timer).
  Deadline deadline_;
  beast::flat_buffer buffer_;
  std::any connection_note_;
  asio::steady_timer kill_timer_;
  std::function<void()> on_stop_;
  bool stopping_ = false;
  bool busy_ = false;
};

Stream& Exchange::stream() {
  return connection_.stream();
}
Deadlines& Exchange::deadlines() {
  return connection_.deadlines();
}
Deadline& Exchange::client_deadline() {
  return connection_.deadline();
}
std::chrono::milliseconds Exchange::write_timeout() const {
  return connection_.write_timeout();
}
bool Exchange::stopping() const {
  return connection_.stopping();
}
void Exchange::OnStop(std::function<void()> callback) {
  connection_.OnStop(std::move(callback));
}
std::any& Exchange::connection_note() {
  return connection_.connection_note();
}

// The next request of the connection, its body read: nullptr when the connection ends (closed,
// timed out, or refused here with an answer). Its own coroutine, so the parser and the refusal
// paths are freed before the handler runs: a request served for hours (an event stream) holds
// only the request (docs/benchmarks.md, "Gateway": the cost of an open stream). The usual request
// (its head whole in one read, no body, the head check answered at once) is taken by TakeWhole;
// any other is read on by ReadOn. The parser and the request are on the heap and the rarer paths
// in a coroutine of their own, so that this one's frame stays small enough for Asio's per-thread
// cache (it recycles none over 1020 bytes: each would be a memalign and a free per request).
asio::awaitable<std::unique_ptr<Connection::Incoming>> Connection::Next(bool first) {
  const ServerLimits& limits = server_.limits_;
  boost::system::error_code ec;
  // A keep-alive connection may wait idle for its next request; once that request's first
  // byte arrives its header has the header timeout, as the first request's has from accept.
  if (!first && buffer_.size() == 0) {
    // On the socket itself, with the connection's lazy deadline: no timer armed and cancelled
    // per request.
    deadline_.Set(limits.idle_timeout);
    // A small first read: the rest of a longer head is read below, and an idle keep-alive
    // connection does not hold header_limit bytes while it waits.
    std::size_t n = 0;
    std::tie(ec, n) = co_await stream_.socket().async_read_some(
        buffer_.prepare(std::min<std::size_t>(limits.header_limit, kFirstRead)), kDeferredTuple);
    ec = deadline_.Reported(ec);
    deadline_.Clear();
    buffer_.commit(n);
    if (ec) {
      co_return nullptr;
    }
  }
  if (auto in = TakeSimple()) {
    co_return in;
  }
  auto parser = std::make_unique<RequestParser>();
  PrepareParser(*parser, limits);
  if (auto in = TakeWhole(*parser, ec)) {
    co_return in;
  }
  co_return co_await ReadOn(std::move(parser), ec);
}

// The usual request (TakeSimpleRequest: a head whole in the buffer, no body, nothing Beast's
// parser might refuse) taken without a parser, when the quick head check lets it through; else
// nullptr with the buffer untouched, for Beast's parser (TakeWhole, ReadOn).
std::unique_ptr<Connection::Incoming> Connection::TakeSimple() {
  if (buffer_.size() == 0 || (server_.head_check_ && !server_.quick_check_)) {
    return nullptr;
  }
  auto in = std::make_unique<Incoming>();
  std::size_t size = 0;
  const std::string_view unread(static_cast<const char*>(buffer_.data().data()), buffer_.size());
  if (!TakeSimpleRequest(unread, server_.limits_.header_limit, in->request, size)) {
    return nullptr;
  }
  in->started = std::chrono::steady_clock::now();
  if (server_.head_check_) {
    Exchange head(*this, in->request, peer_, in->note);
    try {
      if (!server_.quick_check_(head)) {
        return nullptr;
      }
    } catch (...) {
      return nullptr;  // ReadOn asks the head check, which answers it
    }
  }
  buffer_.consume(size);
  busy_ = true;
  if (buffer_.size() == 0 && buffer_.capacity() > kKeptBuffer) {
    buffer_.shrink_to_fit();
  }
  return in;
}

// Usually the first read brought the whole head: parsed here, without Beast's composed read
// (its operations, executor copies and the post of its completion). The request, when it needs
// nothing more (no body, not refused, the quick head check let it through); else nullptr, with
// `ec` the parser's error (none for a head not yet whole: the parser takes a head in one piece,
// so it is left unparsed and read on).
std::unique_ptr<Connection::Incoming> Connection::TakeWhole(RequestParser& parser,
                                                            boost::system::error_code& ec) {
  if (buffer_.size() == 0) {
    return nullptr;
  }
  std::size_t used = parser.put(buffer_.data(), ec);
  buffer_.consume(used);
  if (ec == bhttp::error::need_more) {
    ec = {};
  }
  if (ec || !parser.is_header_done() || !parser.is_done() || CheckFraming(parser)) {
    return nullptr;
  }
  auto in = std::make_unique<Incoming>();
  in->started = std::chrono::steady_clock::now();
  if (server_.head_check_) {
    Exchange head(*this, parser.get(), peer_, in->note);
    if (!server_.quick_check_) {
      return nullptr;
    }
    try {
      if (!server_.quick_check_(head)) {
        return nullptr;
      }
    } catch (...) {
      return nullptr;  // ReadOn asks the head check, which answers it
    }
  }
  // No body (is_done): no body limit to check.
  busy_ = true;
  if (buffer_.size() == 0 && buffer_.capacity() > kKeptBuffer) {
    buffer_.shrink_to_fit();
  }
  in->request = parser.release();
  return in;
}

asio::awaitable<std::unique_ptr<Connection::Incoming>> Connection::ReadOn(
    std::unique_ptr<RequestParser> owned, boost::system::error_code ec) {
  const ServerLimits& limits = server_.limits_;
  RequestParser& parser = *owned;
  std::size_t n = 0;
  if (!parser.is_header_done() && !ec) {
    stream_.expires_after(limits.header_timeout);
    std::tie(ec, n) = co_await bhttp::async_read_header(stream_, buffer_, parser, kUseTuple);
  }
  if (ec) {
    if (auto refusal = RefusalForHeaderError(ec, limits)) {
      co_await Refuse(refusal->status, refusal->message);
    }
    co_return nullptr;
  }
  busy_ = true;
  auto in = std::make_unique<Incoming>();
  in->started = std::chrono::steady_clock::now();
  std::optional<Response> refused;
  if (auto refusal = CheckFraming(parser)) {
    refused = ErrorResponse(refusal->status, refusal->message);
  }
  if (!refused && server_.head_check_) {
    // Before any of the body is read, so an unauthenticated client cannot make the server
    // hold a large body.
    stream_.expires_never();
    Exchange head(*this, parser.get(), peer_, in->note);
    try {
      if (!server_.quick_check_ || !server_.quick_check_(head)) {
        refused = co_await server_.head_check_(head);
      }
    } catch (...) {
      refused = ResponseForCurrentException(parser.get());
    }
  }
  if (!refused) {
    if (auto refusal = CheckBodyLimit(parser, limits)) {
      refused = ErrorResponse(refusal->status, refusal->message);
    }
  }
  if (refused) {
    refused->version(parser.get().version());
    refused->keep_alive(false);
    refused->prepare_payload();
    co_await Write(*refused);
    Observe(*refused, in->started);
    co_await Linger();
    co_return nullptr;
  }
  if (!parser.is_done()) {
    stream_.expires_after(limits.body_timeout);
    // A client asking first (curl does for bodies over 1 MiB) would otherwise wait a second
    // before sending. Its size is within the limit: go ahead.
    if (beast::iequals(parser.get()[bhttp::field::expect], "100-continue")) {
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      std::tie(ec, n) = co_await asio::async_write(stream_, asio::buffer(kContinue), kUseTuple);
      if (ec) {
        co_return nullptr;
      }
    }
    std::tie(ec, n) = co_await bhttp::async_read(stream_, buffer_, parser, kUseTuple);
    if (ec == bhttp::error::body_limit) {
      co_await Refuse(Status::payload_too_large,
                      BodyTooLargeMessage(limits.BodyLimitFor(parser.get().target())));
      co_return nullptr;
    }
    if (ec) {
      co_return nullptr;
    }
  }
  stream_.expires_never();
  // A small read buffer is kept for the connection's next request (one allocation less per
  // request); one grown by a long head or a body is released, so an idle keep-alive connection
  // holds at most kKeptBuffer. A streaming handler, which may hold on for hours, has it
  // released too (OnStop).
  if (buffer_.size() == 0 && buffer_.capacity() > kKeptBuffer) {
    buffer_.shrink_to_fit();
  }
  in->request = parser.release();
  co_return in;
}

asio::awaitable<void> Connection::Run() {
  for (bool first = true;; first = false) {
    std::unique_ptr<Incoming> in = co_await Next(first);
    if (!in) {
      break;
    }
    Exchange exchange(*this, in->request, peer_, in->note);
    std::optional<Response> res;
    try {
      res = co_await server_.handler_(exchange);
    } catch (...) {
      res = ResponseForCurrentException(in->request);
    }
    if (!res) {
      // The handler wrote its answer itself, or took the connection over and has finished
      // with it.
      if (const auto& answer = exchange.answered()) {
        Observe(answer->status, in->started);
        busy_ = false;
        if (answer->keep_alive && !stopping_) {
          continue;
        }
      }
      break;
    }
    res->version(in->request.version());
    res->keep_alive(in->request.keep_alive() && !stopping_);
    res->prepare_payload();
    // Bounded as every other write of the connection: a client that never reads its answer
    // cannot hold the connection and its buffers for ever. The connection's own lazy deadline
    // (free while a handler runs): no timer armed per answer.
    deadline_.Set(server_.limits_.write_timeout);
    auto [wec, wn] = co_await bhttp::async_write(stream_.socket(), *res, kDeferredTuple);
    deadline_.Clear();
    Observe(*res, in->started);
    busy_ = false;
    if (wec || !res->keep_alive()) {
      break;
    }
  }
  Close();
}

IoPool::IoPool(int threads) {
  for (int i = 0; i < std::max(1, threads); ++i) {
    contexts_.push_back(std::make_unique<asio::io_context>(1));
  }
}

asio::io_context& IoPool::Next() {
  return *contexts_[next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size()];
}

void IoPool::Start() {
  for (auto& context : contexts_) {
    threads_.emplace_back([&io = *context] {
      // Named, so that a profile or /proc tells the event loops from the other threads.
      pthread_setname_np(pthread_self(), "crmd-io");
      auto guard = asio::make_work_guard(io);
      io.run();
    });
  }
}

void IoPool::Stop() {
  for (auto& context : contexts_) {
    context->stop();
  }
  for (auto& t : threads_) {
    t.join();
  }
  threads_.clear();
}

Server::Server(IoPool& io, ServerLimits limits, Handler handler, Metrics* metrics)
    : io_(io), limits_(limits), handler_(std::move(handler)), metrics_(metrics) {}

Server::~Server() {
  for (const auto& path : unix_paths_) {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
}

Endpoint Server::Listen(const Endpoint& endpoint) {
  auto acceptor = std::make_shared<asio::basic_socket_acceptor<Protocol>>(io_.First());
  Protocol::endpoint generic = endpoint.Generic();
  boost::system::error_code ec;
  if (endpoint.is_unix) {
    std::error_code fec;
    std::filesystem::remove(endpoint.path, fec);
  }
  acceptor->open(generic.protocol(), ec);
  if (!ec && !endpoint.is_unix) {
    acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  }
  if (!ec) {
    acceptor->bind(generic, ec);
  }
  if (!ec) {
    acceptor->listen(asio::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    throw RuntimeError("cannot listen on " + endpoint.ToString() + ": " + ec.message());
  }
  Endpoint bound = endpoint;
  if (endpoint.is_unix) {
    unix_paths_.push_back(endpoint.path);
  } else {
    auto local = acceptor->local_endpoint();
    const auto* sa = reinterpret_cast<const sockaddr*>(local.data());
    bound.port =
        ntohs(sa->sa_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port
                                        : reinterpret_cast<const sockaddr_in*>(sa)->sin_port);
  }
  acceptors_.push_back(std::move(acceptor));
  return bound;
}

void Server::Start() {
  for (auto& acceptor : acceptors_) {
    asio::co_spawn(io_.First(), Accept(acceptor), asio::detached);
  }
}

asio::awaitable<void> Server::Accept(
    std::shared_ptr<asio::basic_socket_acceptor<Protocol>> acceptor) {
  for (;;) {
    // The connection lives on the next context; the acceptor's context only hands it over.
    auto [ec, socket] = co_await acceptor->async_accept(io_.Next(), kUseTuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor->is_open()) {
        co_return;
      }
      // EMFILE and friends: back off briefly rather than spin.
      spdlog::warn("accept failed: {}", ec.message());
      asio::steady_timer timer(io_.First(), std::chrono::milliseconds(50));
      co_await timer.async_wait(kUseTuple);
      continue;
    }
    if (socket.local_endpoint().protocol().family() != AF_UNIX) {
      boost::system::error_code opt_ec;
      socket.set_option(asio::ip::tcp::no_delay(true), opt_ec);
    }
    std::shared_ptr<Connection> connection;
    {
      std::string peer = PeerAddress(socket);
      std::lock_guard lock(mutex_);
      if (stopping_) {
        boost::system::error_code close_ec;
        socket.close(close_ec);
        continue;
      }
      if (connections_.size() >= limits_.max_connections) {
        TurnAway(socket, "the server is at its connection limit; retry shortly");
        continue;
      }
      // Counted by TCP peer: behind a proxy every client shares its address, and the proxy
      // applies the per-client cap (docs/operations.md, "crmd settings"). Unix peers are the
      // gateway.
      std::size_t& from_peer = per_address_[peer];
      if (peer != "unix" && from_peer >= limits_.max_connections_per_address) {
        if (from_peer == 0) {
          per_address_.erase(peer);
        }
        TurnAway(socket, "too many connections from your address; close some and retry");
        continue;
      }
      ++from_peer;
      connection = std::make_shared<Connection>(*this, std::move(socket), std::move(peer));
      connections_.insert(connection);
    }
    auto executor = connection->stream().get_executor();
    asio::co_spawn(executor, connection->Run(), [this, connection](std::exception_ptr ep) {
      if (ep) {
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          spdlog::error("connection ended by an exception: {}", e.what());
        }
      }
      Remove(connection.get());
    });
  }
}

void Server::Remove(Connection* connection) {
  std::lock_guard lock(mutex_);
  for (auto it = connections_.begin(); it != connections_.end(); ++it) {
    if (it->get() == connection) {
      auto counted = per_address_.find((*it)->peer());
      if (counted != per_address_.end() && --counted->second == 0) {
        per_address_.erase(counted);
      }
      connections_.erase(it);
      return;
    }
  }
}

std::size_t Server::connection_count() const {
  std::lock_guard lock(mutex_);
  return connections_.size();
}

void Server::Shutdown(std::chrono::milliseconds drain) {
  std::vector<std::shared_ptr<Connection>> open;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    open.assign(connections_.begin(), connections_.end());
  }
  for (auto& acceptor : acceptors_) {
    asio::post(acceptor->get_executor(), [acceptor] {
      boost::system::error_code ec;
      acceptor->close(ec);
    });
  }
  for (auto& connection : open) {
    connection->Stop();
  }
  auto deadline = std::chrono::steady_clock::now() + drain;
  while (connection_count() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  {
    std::lock_guard lock(mutex_);
    open.assign(connections_.begin(), connections_.end());
  }
  if (!open.empty()) {
    spdlog::warn("shutdown: closing {} connection(s) still busy after the {} ms drain", open.size(),
                 drain.count());
    for (auto& connection : open) {
      connection->Kill();
    }
    auto hard = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (connection_count() > 0 && std::chrono::steady_clock::now() < hard) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
}

// --- Router -------------------------------------------------------------------------------

namespace {

std::vector<std::string> Segments(std::string_view path) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    if (slash == std::string_view::npos) {
      slash = path.size();
    }
    if (slash > start) {
      out.emplace_back(path.substr(start, slash - start));
    }
    start = slash + 1;
  }
  return out;
}

}  // namespace

Reply Ready(Response res) {
  co_return std::move(res);
}

void Router::Add(bhttp::verb method, std::string pattern, Handler handler) {
  routes_.push_back({method, Segments(pattern), std::move(handler)});
}

void Router::AddPrefix(std::string prefix, Handler handler) {
  prefixes_.emplace_back(std::move(prefix), std::move(handler));
}

void Router::SetFallback(std::function<std::optional<Response>(const Request&)> fallback) {
  fallback_ = std::move(fallback);
}

// Not a coroutine: the handler's own coroutine is returned as it is, so a request served for
// hours (an event stream) does not also hold a frame of the router (docs/benchmarks.md,
// "Gateway": the cost of an open stream).
Reply Router::Dispatch(Exchange& exchange) const {
  std::string_view path = TargetPath(exchange.request().target());
  for (const auto& [prefix, handler] : prefixes_) {
    if (path.rfind(prefix, 0) == 0) {
      return handler(exchange);
    }
  }
  std::vector<std::string> segments = Segments(path);
  std::string allow;
  for (const auto& route : routes_) {
    if (route.segments.size() != segments.size()) {
      continue;
    }
    std::map<std::string, std::string> params;
    bool match = true;
    for (std::size_t i = 0; i < segments.size() && match; ++i) {
      const std::string& want = route.segments[i];
      if (want.size() > 2 && want.front() == '{' && want.back() == '}') {
        params[want.substr(1, want.size() - 2)] = segments[i];
      } else {
        match = want == segments[i];
      }
    }
    if (!match) {
      continue;
    }
    bool head_as_get =
        exchange.request().method() == bhttp::verb::head && route.method == bhttp::verb::get;
    if (route.method != exchange.request().method() && !head_as_get) {
      allow += (allow.empty() ? "" : ", ") + std::string(bhttp::to_string(route.method));
      continue;
    }
    exchange.params() = std::move(params);
    return route.handler(exchange);
  }
  if (!allow.empty()) {
    Response res =
        ErrorResponse(Status::method_not_allowed, std::string(exchange.request().method_string()) +
                                                      " is not allowed here; allowed: " + allow);
    res.set(bhttp::field::allow, allow);
    return Ready(std::move(res));
  }
  if (fallback_) {
    if (auto res = fallback_(exchange.request())) {
      return Ready(std::move(*res));
    }
  }
  return Ready(ErrorResponse(Status::not_found, "no such endpoint: " + std::string(path)));
}

}  // namespace crm::http

namespace crm::http {

void BlockStopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

void ServeUntilSignal(IoPool& io, Server& server, std::chrono::milliseconds drain,
                      const std::function<void()>& on_signal) {
  // Block the signals in every thread (threads inherit the mask) and take them in this one.
  BlockStopSignals();
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  io.Start();
  int signal = 0;
  sigwait(&signals, &signal);
  spdlog::info("{} received: draining (at most {} ms)", signal == SIGTERM ? "SIGTERM" : "SIGINT",
               drain.count());
  if (on_signal) {
    on_signal();
  }
  server.Shutdown(drain);
  io.Stop();
  spdlog::info("stopped");
}

}  // namespace crm::http
