#include "crm/gateway/rate_limiter.hpp"

namespace crm::gateway {

std::chrono::seconds RateLimiter::Attempt(const std::string& key, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto found = index_.find(key);
  if (found == index_.end()) {
    if (index_.size() >= max_keys_) {
      // The least recently attempted key goes: usually one whose window has long passed, and
      // at worst a key that is forgotten early; refusing newcomers instead would let a flood of
      // addresses lock every new client out.
      index_.erase(by_recency_.front().key);
      by_recency_.pop_front();
    }
    by_recency_.push_back(Entry{key, {}});
    found = index_.emplace(key, std::prev(by_recency_.end())).first;
  } else {
    by_recency_.splice(by_recency_.end(), by_recency_, found->second);
  }
  auto& times = found->second->times;
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

std::size_t RateLimiter::size() const {
  std::lock_guard lock(mutex_);
  return index_.size();
}

}  // namespace crm::gateway
