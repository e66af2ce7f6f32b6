// Who calls the gateway: the session a request names (a bearer token or the session cookie),
// looked up in the database and cached for a few seconds so that proxied requests do not each
// cost a round trip, and remembered per connection so that a keep-alive connection's next
// requests with the same token cost neither a hash nor a lock. A session in use is confirmed
// again in the background before its cache entry runs out, so that its requests never wait for
// the database (docs/architecture.md, "Request flow"). Plugged into http::RouteContext as its
// CallerSource.
#pragma once

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "crm/gateway/session_store.hpp"
#include "crm/http/route_context.hpp"

namespace crm::gateway {

/// The session cookie's name.
inline constexpr const char* kSessionCookie = "crm_session";

/// The session token of a request: "Authorization: Bearer …", else the session cookie; "" when
/// it has neither.
std::string TokenFrom(const http::Request& request);
/// The same, as it is in the request (no copy; valid while the request is).
std::string_view TokenIn(const http::Request& request);

/// The session one connection's last request named (Sessions::Recall): kept with the connection
/// so that its next requests with the same token skip the hash, the lock and the shared cache.
struct SessionMemo {
  std::string token;           ///< the token's bytes; empty: nothing remembered
  std::uint64_t generation{};  ///< Sessions' generation when it was looked up
  std::chrono::steady_clock::time_point fetched;  ///< when the database last confirmed it
  Caller caller;
};

/// How long the shared cache answers for the database, and when it asks again.
struct SessionCacheTimes {
  /// An entry older than this is not used: the request waits for the database. This bounds how
  /// long a session revoked by another process without a notification (or expired) still works.
  std::chrono::milliseconds fresh{5000};
  /// A request that finds its entry at least this old is answered from it and starts the
  /// database's confirmation in the background (one at a time per session): under a steady
  /// stream of requests the entry is renewed before `fresh` runs out and no request waits.
  std::chrono::milliseconds refresh_after{4000};
};

class Sessions : public http::CallerSource<Caller> {
 public:
  /// `ttl`: how long a session lives without being used.
  Sessions(http::DbCall db, std::chrono::seconds ttl, SessionCacheTimes times = {})
      : db_(db), ttl_(ttl), times_(times) {}

  boost::asio::awaitable<std::optional<Caller>> Resolve(const http::Request& request) override;
  /// The caller `memo` remembers for `token`, or nullptr when it cannot answer: another token,
  /// an entry the shared cache would confirm again (`refresh_after` old), or a session
  /// forgotten since (any Forget* call makes every memo look up again, so a revoked session is
  /// refused from the next request on).
  /// Its `renewed` is true only the first time. No hashing, no lock.
  const Caller* Recall(std::string_view token, SessionMemo& memo);
  /// As Resolve, remembering the answer in `memo` for Recall; nullptr without a valid session
  /// (the memo is then emptied). The pointer is to memo.caller.
  boost::asio::awaitable<const Caller*> Resolve(const http::Request& request, SessionMemo& memo);
  /// Forgets the cached session known by `token_hash` (signed out).
  void Forget(const std::string& token_hash);
  /// Forgets every cached session: accounts or slices changed.
  void ForgetAll();
  /// Applies a change another process announced on crm_gateway ("session:<hash>",
  /// "user:<id>", "slice:<id>"): the entries it makes wrong are forgotten.
  void ForgetChanged(const std::string& change);

 private:
  struct Cached {
    Caller caller;  ///< in the cache: `renewed` only when a background confirmation renewed it
    std::chrono::steady_clock::time_point fetched;
    bool refreshing = false;  ///< a background confirmation is under way
  };
  /// The caller of the session known by `hash` (the shared cache, else the database), with
  /// the time the database confirmed it. `generation`, read before: an answer from the database
  /// is cached only if nothing was forgotten since.
  boost::asio::awaitable<std::optional<Cached>> Lookup(const std::string& hash,
                                                       std::uint64_t generation);
  /// The database's confirmation of the session known by `hash` (SessionStore::Touch: its
  /// expiry rolled forward, its caller), on the blocking pool.
  auto Confirm(const std::string& hash) {
    return db_.Write([this, &hash](pqxx::work& tx) { return SessionStore(tx).Touch(hash, ttl_); });
  }
  /// Lookup without a fresh entry: the answer of the database, which this request asks for, or
  /// waits for when another request already asks for it (Pending).
  boost::asio::awaitable<std::optional<Cached>> Ask(const std::string& hash,
                                                    std::uint64_t generation,
                                                    std::chrono::steady_clock::time_point now);
  /// The background confirmation of the entry of `hash`, which a request found at least
  /// refresh_after old at `started`: the database's answer replaces it (or, when the session is
  /// gone, removes it) unless something was forgotten since `generation`.
  boost::asio::awaitable<void> Refresh(std::string hash, std::uint64_t generation,
                                       std::chrono::steady_clock::time_point started);
  /// The database's answer for a session no fresh entry holds, and the coroutines waiting for
  /// it: the requests that find the same session missing while one request asks the database
  /// wait for that answer instead of each asking (every connection of a client back after a
  /// few idle seconds; each ask is a write to the session's row, and they would queue on its
  /// lock).
  struct Pending {
    std::uint64_t generation = 0;  ///< the generation the asking request read
    bool failed = false;           ///< the database did not answer: each waiter asks itself
    std::optional<Caller> answer;  ///< once finished and not failed; nullopt: no valid session
    std::chrono::steady_clock::time_point fetched;
    /// One timer per waiter, on its own event loop, moved to the past (through that loop) when
    /// the answer is in.
    std::vector<std::shared_ptr<boost::asio::steady_timer>> waiters;
  };
  /// Drops `pending` from pending_ if it is still there and wakes its waiters; under mutex_,
  /// which the caller holds (the waiters run after it is released).
  void Finish(const std::string& hash, const std::shared_ptr<Pending>& pending);
  /// Every Forget* calls it, under mutex_: the memos all look up again, and lookups under way
  /// take no more waiters (a request after a sign-out must not get an answer from before it).
  void Forgot() {
    generation_.fetch_add(1, std::memory_order_acq_rel);
    pending_.clear();
  }

  http::DbCall db_;
  std::chrono::seconds ttl_;
  SessionCacheTimes times_;
  std::mutex mutex_;
  std::unordered_map<std::string, Cached> cache_;
  std::unordered_map<std::string, std::shared_ptr<Pending>> pending_;
  std::atomic<std::uint64_t> generation_{1};
};

}  // namespace crm::gateway
