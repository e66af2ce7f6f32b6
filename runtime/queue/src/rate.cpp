#include "crm/queue/rate.hpp"

#include <algorithm>
#include <cmath>

#include "crm/error.hpp"

namespace crm::queue {

TokenBucket::TokenBucket(double rate, double burst, Clock::time_point now)
    : rate_(rate), burst_(std::max(1.0, burst)), tokens_(std::max(1.0, burst)), updated_(now) {}

void TokenBucket::Refill(Clock::time_point now) {
  if (now <= updated_) {
    return;
  }
  Clock::time_point from = std::max(updated_, paused_until_);
  if (now > from) {
    tokens_ = std::min(burst_, tokens_ + std::chrono::duration<double>(now - from).count() * rate_);
  }
  updated_ = now;
}

int TokenBucket::Take(int wanted, Clock::time_point now) {
  Refill(now);
  if (now < paused_until_ || wanted <= 0) {
    return 0;
  }
  int got = std::min(wanted, static_cast<int>(std::floor(tokens_)));
  tokens_ -= got;
  return got;
}

Clock::time_point TokenBucket::NextToken(Clock::time_point now) {
  Refill(now);
  Clock::time_point start = std::max(now, paused_until_);
  if (tokens_ >= 1.0 && now >= paused_until_) {
    return now;
  }
  double missing = std::max(0.0, 1.0 - tokens_);
  return start + std::chrono::duration_cast<Clock::duration>(
                     std::chrono::duration<double>(missing / rate_));
}

int TokenBucket::Available(Clock::time_point now) {
  Refill(now);
  return now < paused_until_ ? 0 : static_cast<int>(std::floor(tokens_));
}

bool TokenBucket::Full(Clock::time_point now) {
  Refill(now);
  return now >= paused_until_ && tokens_ >= burst_;
}

void TokenBucket::PauseUntil(Clock::time_point until) {
  if (until > paused_until_) {
    Refill(std::min(updated_, until));
    paused_until_ = until;
    tokens_ = 0;
  }
}

PairLimiter::PairLimiter(std::chrono::milliseconds interval, int burst)
    : interval_(interval), burst_(std::max(1, burst)) {}

bool PairLimiter::Allow(const std::string& recipient, Clock::time_point now,
                        std::chrono::milliseconds* wait) {
  double rate = 1000.0 / static_cast<double>(std::max<long long>(1, interval_.count()));
  auto [it, inserted] = buckets_.try_emplace(recipient, rate, burst_, now);
  if (it->second.Take(1, now) == 1) {
    return true;
  }
  if (wait != nullptr) {
    *wait = std::chrono::ceil<std::chrono::milliseconds>(it->second.NextToken(now) - now);
  }
  return false;
}

void PairLimiter::Prune(Clock::time_point now) {
  // A bucket that has had `burst · interval` to refill is full: forgetting it changes nothing.
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    if (it->second.Full(now)) {
      it = buckets_.erase(it);
    } else {
      ++it;
    }
  }
}

std::chrono::milliseconds RetryDelay(int attempt, std::chrono::milliseconds base,
                                     std::chrono::milliseconds cap, double u) {
  double exp = std::ldexp(1.0, std::clamp(attempt, 1, 40) - 1);
  double full = std::min(static_cast<double>(cap.count()), static_cast<double>(base.count()) * exp);
  u = std::clamp(u, 0.0, 1.0);
  return std::chrono::milliseconds(static_cast<long long>(full * (1.0 + u) / 2.0));
}

bool ShardRange::Owns(long long slice_id) const {
  int bucket = TenantBucket(slice_id);
  return bucket >= from && bucket < to;
}

ShardRange ParseShardRange(const std::string& text) {
  HashRange r = ParseHashRange(text);
  return {r.from, r.to};
}

std::string ShardRangeText(const ShardRange& range) {
  return HashRangeText({range.from, range.to});
}

ShardRange ShardOfOrdinal(int ordinal, int count) {
  if (count < 1 || count > kHashBuckets || ordinal < 0 || ordinal >= count) {
    throw InputError("shard ordinal " + std::to_string(ordinal) + " is outside 0.." +
                     std::to_string(count - 1) + " (WORKER_SHARD_COUNT " + std::to_string(count) +
                     ", at most " + std::to_string(kHashBuckets) + ")");
  }
  HashRange r = HashShareOfOrdinal(ordinal, count);
  return {r.from, r.to};
}

int TenantBucket(long long slice_id) {
  // splitmix64's finaliser: cheap and well spread.
  auto x = static_cast<std::uint64_t>(slice_id);
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  x ^= x >> 31;
  // The hash's two lowest base-100 digits: the first is the percent bucket of releases before
  // basis points (x % 100, kept so a percent range owns the same tenants), the second splits it
  // in hundredths. x % 10000 is uniform, so the pair is too.
  return static_cast<int>(x % 100 * 100 + x / 100 % 100);
}

}  // namespace crm::queue
