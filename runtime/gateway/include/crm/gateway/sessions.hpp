// Who calls the gateway: the session a request names (a bearer token or the session cookie),
// looked up in the database and cached for a few seconds so that proxied requests do not each
// cost a round trip. Plugged into http::RouteContext as its CallerSource.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

#include "crm/gateway/session_store.hpp"
#include "crm/http/route_context.hpp"

namespace crm::gateway {

/// The session cookie's name.
inline constexpr const char* kSessionCookie = "crm_session";

/// The session token of a request: "Authorization: Bearer …", else the session cookie; "" when
/// it has neither.
std::string TokenFrom(const http::Request& request);

class Sessions : public http::CallerSource<Caller> {
 public:
  /// `ttl`: how long a session lives without being used.
  Sessions(http::DbCall db, std::chrono::seconds ttl) : db_(db), ttl_(ttl) {}

  boost::asio::awaitable<std::optional<Caller>> Resolve(const http::Request& request) override;
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
  http::DbCall db_;
  std::chrono::seconds ttl_;
  std::mutex mutex_;
  std::unordered_map<std::string, Cached> cache_;
};

}  // namespace crm::gateway
