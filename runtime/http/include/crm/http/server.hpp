// An HTTP/1.1 server on Boost.Beast and C++20 coroutines: one coroutine per connection, each
// connection on one single-threaded io_context of an IoPool, explicit body/header limits and
// timeouts, and a graceful shutdown that stops accepting, lets in-flight requests finish and ends
// long-lived streams within a second.
#pragma once

#include <any>
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "crm/http/endpoint.hpp"
#include "crm/http/limits.hpp"
#include "crm/http/message.hpp"
#include "crm/http/metrics.hpp"

namespace crm::http {

class Connection;
class Deadline;
class Deadlines;

/// The I/O threads: one io_context per thread, each run by that thread alone (concurrency hint
/// 1), as nginx runs one event loop per worker. A connection lives on one context for its whole
/// life, so its handlers need no strand and two threads never wake each other to run one
/// connection's work; the shared io_context this replaced spent a third of the gateway's time
/// switching threads (docs/benchmarks.md, "Gateway").
class IoPool {
 public:
  explicit IoPool(int threads);
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  /// The context of the listening sockets and of work that belongs to no connection.
  asio::io_context& First() { return *contexts_.front(); }
  /// The next context in turn, for a new connection.
  asio::io_context& Next();
  std::size_t size() const { return contexts_.size(); }
  /// Runs every context on its own thread until Stop.
  void Start();
  /// Stops every context and joins the threads.
  void Stop();

 private:
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> next_{0};
};

/// One request being served. Handlers read the request and either return a response, or take
/// the connection over (streams) and return std::nullopt.
class Exchange {
 public:
  /// `note`: shared by the head check and the handler of one request.
  Exchange(Connection& connection, Request& request, std::string peer, std::any& note)
      : connection_(connection), request_(request), peer_(std::move(peer)), note_(note) {}

  Request& request() { return request_; }
  /// The client's IP address ("127.0.0.1"), or "unix" for a Unix-socket peer.
  const std::string& peer() const { return peer_; }
  /// Path parameters the router matched ("{id}" → params()["id"]).
  std::map<std::string, std::string>& params() { return params_; }
  /// What the server's head check learnt about this request for its handler (the gateway: the
  /// caller it authenticated); empty without a head check.
  std::any& note() { return note_; }
  /// What the head check keeps from one request of the connection to the next (the gateway:
  /// the session its last request named); lives as long as the connection.
  std::any& connection_note();

  /// Whether the answer may keep the connection open: the client wants it and the server is
  /// not stopping.
  bool keep_alive() const { return request_.keep_alive() && !stopping(); }
  /// A handler that wrote its whole answer to stream() itself (a relayed response) says so,
  /// then returns std::nullopt: the connection goes on to its next request when the answer
  /// told the client it would (`keep_alive`), and closes otherwise (also after an answer cut
  /// short).
  void Answered(unsigned status, bool keep_alive) { answered_ = Answer{status, keep_alive}; }
  struct Answer {
    unsigned status;
    bool keep_alive;
  };
  const std::optional<Answer>& answered() const { return answered_; }

  /// For handlers that take the connection over.
  Stream& stream();
  /// The deadlines of the connection's event loop (for a handler's own sockets: Deadline).
  Deadlines& deadlines();
  /// The deadline of the client's socket, free while the handler runs: a handler writing to
  /// stream().socket() itself bounds its writes with it (set, then clear once written); when it
  /// passes, the client's socket is closed.
  Deadline& client_deadline();
  /// How long the server lets one write to a client take (ServerLimits::write_timeout).
  std::chrono::milliseconds write_timeout() const;
  /// True once the server is shutting down: streams must end.
  bool stopping() const;
  /// Called on the connection's thread when the server shuts down, so a stream blocked on
  /// something else (an upstream socket) can be woken. Replaces a previous callback.
  void OnStop(std::function<void()> callback);

 private:
  Connection& connection_;
  Request& request_;
  std::string peer_;
  std::map<std::string, std::string> params_;
  std::any& note_;
  std::optional<Answer> answered_;
};

/// What a handler gives back: a response, or std::nullopt when it took the connection over.
using Reply = asio::awaitable<std::optional<Response>>;

/// A reply already known, for a handler that is not a coroutine itself (it returns another
/// coroutine's reply, or this one).
Reply Ready(Response res);
using Handler = std::function<Reply(Exchange&)>;
/// Asked once a request's header has arrived, before any of its body is read (the request's
/// body is still empty): a response refuses the request, which is answered and its connection
/// closed with the body unread; nullopt lets the request go on. Exceptions map as a handler's.
using HeadCheck = std::function<asio::awaitable<std::optional<Response>>(Exchange&)>;
/// A head check's answer known without waiting (the gateway: the session the connection's last
/// request named): true lets the request go on, as the head check's nullopt would, with what it
/// learnt noted; false asks the head check. Spares a coroutine frame per request.
using QuickHeadCheck = std::function<bool(Exchange&)>;

class Server {
 public:
  /// `metrics` (optional, outlives the server) receives every request's status and latency.
  Server(IoPool& io, ServerLimits limits, Handler handler, Metrics* metrics = nullptr);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds and listens (a stale Unix socket file is replaced). Returns the bound endpoint: the
  /// real port when `endpoint.port` was 0. Throws RuntimeError when it cannot bind.
  Endpoint Listen(const Endpoint& endpoint);
  /// Checks every request's header before its body is read (call before Start); `quick`, when
  /// given, is asked first.
  void SetHeadCheck(HeadCheck check, QuickHeadCheck quick = {}) {
    head_check_ = std::move(check);
    quick_check_ = std::move(quick);
  }
  /// Starts accepting on every listening endpoint.
  void Start();
  /// Graceful shutdown, callable from any thread: stops accepting, closes idle keep-alive
  /// connections, lets requests in flight finish (at most `drain`), tells streams to end and
  /// closes them after one second. Blocks until every connection is gone.
  void Shutdown(std::chrono::milliseconds drain);

  std::size_t connection_count() const;

 private:
  friend class Connection;
  asio::awaitable<void> Accept(std::shared_ptr<asio::basic_socket_acceptor<Protocol>> acceptor);
  void Remove(Connection* connection);

  IoPool& io_;
  ServerLimits limits_;
  Handler handler_;
  HeadCheck head_check_;
  QuickHeadCheck quick_check_;
  Metrics* metrics_;
  std::vector<std::shared_ptr<asio::basic_socket_acceptor<Protocol>>> acceptors_;
  std::vector<std::string> unix_paths_;
  mutable std::mutex mutex_;
  std::set<std::shared_ptr<Connection>> connections_;
  std::map<std::string, std::size_t> per_address_;  ///< open connections per TCP peer address
  bool stopping_ = false;
};

/// Routes by method and path pattern ("/api/contacts/{id}"); 404 for an unknown path, 405 (with
/// Allow) for a known path with another method.
class Router {
 public:
  void Add(bhttp::verb method, std::string pattern, Handler handler);
  /// Handles a path prefix ("/api/"): every method, every path below it.
  void AddPrefix(std::string prefix, Handler handler);
  /// Asked for a path no route or prefix matches (the web app's files); nullopt keeps the JSON
  /// 404.
  void SetFallback(std::function<std::optional<Response>(const Request&)> fallback);
  Reply Dispatch(Exchange& exchange) const;

 private:
  struct Route {
    bhttp::verb method;
    std::vector<std::string> segments;
    Handler handler;
  };
  std::vector<Route> routes_;
  std::vector<std::pair<std::string, Handler>> prefixes_;
  std::function<std::optional<Response>(const Request&)> fallback_;
};

}  // namespace crm::http

namespace crm::http {

/// Blocks SIGTERM and SIGINT in the calling thread and every thread it starts afterwards, so only
/// ServeUntilSignal takes them. Call it before starting any thread.
void BlockStopSignals();

/// Runs `io`'s threads until SIGTERM or SIGINT, then calls `on_signal` (stop background work),
/// shuts `server` down gracefully within `drain` and stops `io`. Blocks.
void ServeUntilSignal(IoPool& io, Server& server, std::chrono::milliseconds drain,
                      const std::function<void()>& on_signal = {});

}  // namespace crm::http
