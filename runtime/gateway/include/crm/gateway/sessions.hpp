// Who calls the gateway: the session a request names (a bearer token or the session cookie),
// looked up in the database and cached for a few seconds so that proxied requests do not each
// cost a round trip, and remembered per connection so that a keep-alive connection's next
// requests with the same token cost neither a hash nor a lock. Plugged into http::RouteContext as
// its CallerSource.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

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

class Sessions : public http::CallerSource<Caller> {
 public:
  /// `ttl`: how long a session lives without being used.
  Sessions(http::DbCall db, std::chrono::seconds ttl) : db_(db), ttl_(ttl) {}

  boost::asio::awaitable<std::optional<Caller>> Resolve(const http::Request& request) override;
  /// The caller `memo` remembers for `token`, or nullptr when it cannot answer: another token,
  /// an entry older than the shared cache's, or a session forgotten since (any Forget* call
  /// makes every memo look up again, so a revoked session is refused from the next request on).
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
    Caller caller;
    std::chrono::steady_clock::time_point fetched;
  };
  /// The caller of the session known by `hash` (the shared cache, else the database), with
  /// the time the database confirmed it. `generation`, read before: an answer from the database
  /// is cached only if nothing was forgotten since.
  boost::asio::awaitable<std::optional<Cached>> Lookup(const std::string& hash,
                                                       std::uint64_t generation);
  /// Every Forget* calls it, under mutex_: the memos all look up again.
  void Forgot() { generation_.fetch_add(1, std::memory_order_acq_rel); }

  http::DbCall db_;
  std::chrono::seconds ttl_;
  std::mutex mutex_;
  std::unordered_map<std::string, Cached> cache_;
  std::atomic<std::uint64_t> generation_{1};
};

}  // namespace crm::gateway
