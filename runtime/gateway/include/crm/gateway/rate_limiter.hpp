// A sliding-window limit per client address ("5 login attempts per minute per IP"), with an
// injected clock so tests need no sleeping, and a bounded table so a flood of addresses cannot
// exhaust memory.
#pragma once

#include <chrono>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

namespace crm::gateway {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  RateLimiter(int limit, std::chrono::seconds window, std::size_t max_keys = 100'000)
      : limit_(limit), window_(window), max_keys_(max_keys) {}

  /// Records an attempt by `key` at `now`. Returns 0 when allowed, otherwise the seconds until
  /// the oldest attempt in the window expires (the Retry-After).
  std::chrono::seconds Attempt(const std::string& key, Clock::time_point now);

 private:
  int limit_;
  std::chrono::seconds window_;
  std::size_t max_keys_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::deque<Clock::time_point>> attempts_;
};

}  // namespace crm::gateway
