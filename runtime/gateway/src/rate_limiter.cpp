#include "crm/gateway/rate_limiter.hpp"

namespace crm::gateway {

std::chrono::seconds RateLimiter::Attempt(const std::string& key, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (attempts_.size() >= max_keys_ && attempts_.find(key) == attempts_.end()) {
    // Drop every key whose window has passed; if the table is still full, refuse: a flood of
    // addresses is itself an attack and memory stays bounded.
    for (auto it = attempts_.begin(); it != attempts_.end();) {
      it = !it->second.empty() && now - it->second.back() >= window_ ? attempts_.erase(it)
                                                                     : std::next(it);
    }
    if (attempts_.size() >= max_keys_) {
      return window_;
    }
  }
  auto& times = attempts_[key];
  while (!times.empty() && now - times.front() >= window_) {
    times.pop_front();
  }
  if (static_cast<int>(times.size()) >= limit_) {
    auto wait = std::chrono::ceil<std::chrono::seconds>(times.front() + window_ - now);
    return std::max(wait, std::chrono::seconds(1));
  }
  times.push_back(now);
  return std::chrono::seconds(0);
}

}  // namespace crm::gateway
