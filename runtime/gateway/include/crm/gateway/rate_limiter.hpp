// A sliding-window limit per client address ("5 login attempts per minute per IP"), with an
// injected clock so tests need no sleeping, and a bounded table so a flood of addresses cannot
// exhaust memory nor lock everyone else out.
#pragma once

#include <chrono>
#include <deque>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

namespace crm::gateway {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  /// `limit` attempts per `window` per key; at most `max_keys` keys are remembered.
  RateLimiter(int limit, std::chrono::seconds window, std::size_t max_keys = 100'000)
      : limit_(limit), window_(window), max_keys_(max_keys < 1 ? 1 : max_keys) {}

  /// Records an attempt by `key` at `now`. Returns 0 when allowed, otherwise the seconds until
  /// the oldest attempt in the window expires (the Retry-After). A new key when the table is full
  /// evicts the key attempted least recently (O(1)): a flood of addresses can at worst make the
  /// limiter forget the quietest ones, never refuse a client it has not seen.
  std::chrono::seconds Attempt(const std::string& key, Clock::time_point now);

  /// How many keys are remembered (at most `max_keys`).
  std::size_t size() const;
  int limit() const { return limit_; }
  std::chrono::seconds window() const { return window_; }

 private:
  struct Entry {
    std::string key;
    std::deque<Clock::time_point> times;
  };
  int limit_;
  std::chrono::seconds window_;
  std::size_t max_keys_;
  mutable std::mutex mutex_;
  std::list<Entry> by_recency_;  ///< least recently attempted first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

}  // namespace crm::gateway
