// The telemetry report (docs/operations.md, "Telemetry report"): what the recorded samples say
// about this server — do idle slices keep a small footprint or creep back up, which slices leak,
// at what swap use swap-ins climb, whether WhatsApp disconnects more while swapping, how much a
// waking slice pages back in, and at how many running slices the server began to show stress.
// The SQL aggregates (one pass per question); the judgements below are pure and unit-tested.
#pragma once

#include <pqxx/pqxx>

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "crm/monitor/checks.hpp"

namespace crm::monitor {

/// What the report is asked.
struct ReportOptions {
  std::chrono::hours window{24 * 7};
  /// A slice counts as idle from this many seconds without a request.
  std::chrono::seconds idle_after{600};
  Thresholds thresholds;
};

/// One slice's resident memory while idle: a least-squares line over its idle samples.
struct IdleFit {
  long long slice_id = 0;
  long long samples = 0;
  double span_seconds = 0;
  double first_rss_bytes = 0;
  double last_rss_bytes = 0;
  double slope_bytes_per_hour = 0;
  std::optional<double> r2;  ///< nullopt when the samples share one instant
};

/// A leak: growth of at least 1 MiB an hour, steady (r² ≥ 0.6), over at least 5 samples and
/// 30 minutes. Fewer samples or a shorter span prove nothing either way.
bool IsLeaking(const IdleFit& fit);
/// Enough samples to judge a trend: 3 over 30 minutes.
bool IsJudgeable(const IdleFit& fit);
/// "creeping" (the median slope ≥ 1 MiB/h), "shrinking" (≤ −1 MiB/h), "stable", or
/// "unknown" when no slice is judgeable.
std::string IdleTrend(const std::vector<IdleFit>& fits);

/// Server samples grouped by swap use (10 % buckets; bucket 10 is 90–100 %).
struct SwapBucket {
  int from_percent = 0;
  long long samples = 0;
  double swapin_avg = 0;
  double swapin_max = 0;
  long long slice_samples = 0;       ///< slice samples taken at the same instants
  long long slice_disconnected = 0;  ///< of which WhatsApp was disconnected
};
/// The lowest swap use whose average swap-in rate reaches the threshold: thrashing from there.
std::optional<int> ThrashingFromPercent(const std::vector<SwapBucket>& buckets,
                                        double threshold_pages_per_s);

/// Server samples at one running-slice count.
struct SliceCountLoad {
  int slices_running = 0;
  long long samples = 0;
  long long stressed = 0;  ///< RAM, CPU or swap-ins above their thresholds
};
/// The fewest running slices at which at least a quarter of the samples showed stress.
std::optional<int> StressBeganAt(const std::vector<SliceCountLoad>& loads);

/// The report over the `options.window` before `now`, from the raw samples (window ≤ 48 h),
/// the 5-minute rollups (≤ 30 days) or the hourly ones.
nlohmann::json BuildReport(pqxx::transaction_base& tx, TimePoint now, const ReportOptions& options);

}  // namespace crm::monitor
