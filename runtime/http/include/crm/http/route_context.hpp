// The preamble route handlers share: database work run off the I/O threads with a pooled
// connection (DbCall), and, in a component with sessions, the caller of a request, resolved by
// whatever the component plugs in (CallerSource) and required by RouteContext; and the names
// route files use (route_names).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <concepts>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "crm/db/pool.hpp"
#include "crm/error.hpp"
#include "crm/http/blocking.hpp"
#include "crm/http/message.hpp"
#include "crm/http/server.hpp"

namespace crm::http {

/// Database work for a coroutine: runs on the blocking pool with a connection of the pool, and
/// resumes the awaiting coroutine with the result or the exception. Copyable (two references).
/// As with BlockingPool::Run, pass closures that capture by reference only.
class DbCall {
 public:
  DbCall(BlockingPool& blocking, db::Pool& pool) : blocking_(&blocking), pool_(&pool) {}

  /// `co_await db(work)`: `work(pqxx::connection&)`; the work manages its own transactions.
  template <class F>
  auto operator()(F work) {
    return blocking_->Run([pool = pool_, w = std::move(work)]() mutable { return pool->Run(w); });
  }
  /// `work(pqxx::read_transaction&)`.
  template <class F>
  auto Read(F work) {
    return blocking_->Run([pool = pool_, w = std::move(work)]() mutable { return pool->Read(w); });
  }
  /// `work(pqxx::read_transaction&)` on the read replica when it is fresh enough, else as Read
  /// (db::Pool::ReadReplica).
  template <class F>
  auto ReadReplica(F work) {
    return blocking_->Run(
        [pool = pool_, w = std::move(work)]() mutable { return pool->ReadReplica(w); });
  }
  /// `work(pqxx::work&)`, committed when it returns (rolled back when it throws).
  template <class F>
  auto Write(F work) {
    return blocking_->Run([pool = pool_, w = std::move(work)]() mutable { return pool->Write(w); });
  }
  /// Blocking work that needs no connection of this pool (password hashing, the orchestrator).
  template <class F>
  auto Blocking(F work) {
    return blocking_->Run(std::move(work));
  }

  db::Pool& pool() const { return *pool_; }

 private:
  BlockingPool* blocking_;
  db::Pool* pool_;
};

/// What a request without a valid credential is told (401).
inline constexpr const char* kSignInFirst = "sign in first: no valid session (it may have expired)";

/// How a component tells who sends a request (the gateway: its session cookie or bearer token).
template <class Caller>
class CallerSource {
 public:
  virtual ~CallerSource() = default;
  /// The caller of `request`, or nullopt when it carries no valid credential.
  virtual boost::asio::awaitable<std::optional<Caller>> Resolve(const Request& request) = 0;
};

/// A caller that has a role ("admin", "tenant").
template <class C>
concept HasRole = requires(const C& c) {
  { c.role } -> std::convertible_to<std::string_view>;
};

/// What a handler of a component with sessions starts from: its database and its callers.
template <class Caller>
class RouteContext {
 public:
  RouteContext(DbCall db, CallerSource<Caller>& callers) : db_(db), callers_(&callers) {}

  DbCall& db() { return db_; }

  /// The caller of `request`. Throws Unauthenticated (401) without a valid credential.
  boost::asio::awaitable<Caller> RequireCaller(const Request& request) {
    std::optional<Caller> caller = co_await callers_->Resolve(request);
    if (!caller) {
      throw Unauthenticated(kSignInFirst);
    }
    co_return std::move(*caller);
  }

  /// The caller of `request`, who must have `role`. Throws Unauthenticated, or Forbidden
  /// ("admin only") for another role.
  boost::asio::awaitable<Caller> RequireRole(const Request& request,
                                             std::string_view role) requires HasRole<Caller> {
    Caller caller = co_await RequireCaller(request);
    if (caller.role != role) {
      throw Forbidden(std::string(role) + " only");
    }
    co_return caller;
  }

 private:
  DbCall db_;
  CallerSource<Caller>* callers_;
};

/// What route files name on every line; a component's route context brings them in with
/// `using namespace http::route_names;`.
namespace route_names {
namespace bhttp = boost::beast::http;
using http::Exchange;
using http::Reply;
using http::Response;
using http::Status;
using nlohmann::json;
}  // namespace route_names

}  // namespace crm::http
