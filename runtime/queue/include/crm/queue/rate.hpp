// The outbound queue's pacing: the per-phone token bucket, the per-recipient pair limit, the
// retry backoff and the tenant hash ranges that split slices among dispatchers. Pure: time and
// randomness are parameters, so tests run on a fake clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "crm/hash_range.hpp"

namespace crm::queue {

using Clock = std::chrono::steady_clock;

/// `rate` tokens per second, at most `burst` saved up; starts full.
class TokenBucket {
 public:
  TokenBucket(double rate, double burst, Clock::time_point now);
  /// Takes up to `wanted` whole tokens; returns how many it got.
  int Take(int wanted, Clock::time_point now);
  /// How many whole tokens Take would give now (0 while paused).
  int Available(Clock::time_point now);
  /// When at least one token will be there (now, if one is).
  Clock::time_point NextToken(Clock::time_point now);
  /// No tokens until `until` (a provider's throttling error): the bucket empties.
  void PauseUntil(Clock::time_point until);
  /// True when the bucket holds `burst` tokens again (nothing to remember about it).
  bool Full(Clock::time_point now);

 private:
  void Refill(Clock::time_point now);
  double rate_;
  double burst_;
  double tokens_;
  Clock::time_point updated_;
  Clock::time_point paused_until_{};
};

/// The pair limit: each recipient gets its own small bucket (`burst` messages, then one per
/// `interval`), so a contact is never flooded even when several broadcasts name them.
class PairLimiter {
 public:
  PairLimiter(std::chrono::milliseconds interval, int burst);
  /// True (and counted) when a message to `recipient` may go now; otherwise false and `*wait`
  /// says how long until it may.
  bool Allow(const std::string& recipient, Clock::time_point now, std::chrono::milliseconds* wait);
  /// Forgets recipients whose bucket is full again (bounded memory).
  void Prune(Clock::time_point now);
  std::size_t tracked() const { return buckets_.size(); }

 private:
  std::chrono::milliseconds interval_;
  int burst_;
  std::unordered_map<std::string, TokenBucket> buckets_;
};

/// Retry delay after `attempt` failed tries (1, 2, …): exponential with "equal jitter",
///   delay = min(cap, base · 2^(attempt−1)) · (1 + u) / 2,   u uniform in [0, 1)
/// so successive retries of many tasks spread out instead of arriving together.
std::chrono::milliseconds RetryDelay(int attempt, std::chrono::milliseconds base,
                                     std::chrono::milliseconds cap, double u);

/// A share of the tenant hash space: the buckets [from, to) of TenantBucket, in basis points
/// (hundredths of a percent, 0…10,000). WORKER_SHARD_RANGE writes it in percent: "0-50",
/// "12.5-25".
struct ShardRange {
  int from = 0;
  int to = kHashBuckets;
  bool Owns(long long slice_id) const;
};
/// "25-50" → {2500, 5000}, "0.11-0.22" → {11, 22}; throws InputError quoting `text` for anything
/// else (from < to ≤ 100, at most two decimals).
ShardRange ParseShardRange(const std::string& text);
/// The range as WORKER_SHARD_RANGE writes it: "12.5-25" (no trailing zeros), for logs and errors.
std::string ShardRangeText(const ShardRange& range);
/// The range of StatefulSet ordinal `ordinal` of `count` (1…10,000) slice hosts: whole percents
/// [i·100/n, (i+1)·100/n) up to 100 hosts (as before basis points, so an upgrade moves no
/// tenant), basis points [i·10000/n, (i+1)·10000/n) beyond. Throws InputError for an ordinal
/// outside 0…count−1 or a count past 10,000.
ShardRange ShardOfOrdinal(int ordinal, int count);
/// The tenant's bucket 0…9,999 (a stable hash of the slice id, so neighbouring ids spread out).
/// bucket / 100 is the percent bucket releases before basis points used: a percent range owns
/// the same tenants in both.
int TenantBucket(long long slice_id);

}  // namespace crm::queue
