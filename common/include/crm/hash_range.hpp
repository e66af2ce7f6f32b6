// Ranges of the tenant hash space as operators write them (WORKER_SHARD_RANGE "12.5-25"):
// percents with at most two decimals, held as basis points (hundredths of a percent), so the
// planner, the deployment validator and crmd read, split and print them alike
// (docs/architecture.md, "Scale-out: gateways and slice hosts").
#pragma once

#include <string>
#include <string_view>

namespace crm {

/// Buckets of the tenant hash space: one per basis point (0.01 %).
inline constexpr int kHashBuckets = 10'000;

/// The buckets [from, to) of the tenant hash space, in basis points: 0 ≤ from < to ≤ 10,000.
struct HashRange {
  int from = 0;
  int to = kHashBuckets;
  friend bool operator==(const HashRange&, const HashRange&) = default;
};

/// "0-50", "12.5-25", "0.11-0.22" (percents FROM-TO, digits with at most two decimals,
/// 0 ≤ FROM < TO ≤ 100) → basis points. Throws InputError quoting `text` for anything else.
HashRange ParseHashRange(std::string_view text);

/// A number of basis points in percent, without trailing zeros: 1250 → "12.5", 5000 → "50",
/// 11 → "0.11".
std::string PercentOfBasisPoints(int basis_points);

/// {1250, 2500} → "12.5-25": the notation ParseHashRange reads back, for logs and messages.
std::string HashRangeText(const HashRange& range);

/// The share of part `ordinal` (0-based) of `count` equal parts of the hash space. Up to 100
/// parts, whole percents [i·100/n, (i+1)·100/n), as before basis points existed, so an upgrade
/// moves no tenant; beyond, basis points [i·10000/n, (i+1)·10000/n). Either way every share is
/// non-empty and together they tile the space. Throws InputError unless 1 ≤ count ≤ 10,000
/// and 0 ≤ ordinal < count.
HashRange HashShareOfOrdinal(long long ordinal, long long count);

}  // namespace crm
