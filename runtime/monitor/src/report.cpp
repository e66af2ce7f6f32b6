#include "crm/monitor/report.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "crm/clock.hpp"

namespace crm::monitor {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;
constexpr double kMinSpanSeconds = 1800;

double Median(std::vector<double> v) {
  if (v.empty()) {
    return 0;
  }
  std::sort(v.begin(), v.end());
  std::size_t mid = v.size() / 2;
  return v.size() % 2 == 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

// The window's rows: raw samples are kept 48 hours, 5-minute rollups 30 days (Retention).
struct Source {
  std::string suffix;
  std::string name;
};
Source SourceFor(std::chrono::hours window) {
  if (window <= std::chrono::hours(48)) {
    return {"", "raw"};
  }
  if (window <= std::chrono::hours(24 * 30)) {
    return {"_5m", "5m"};
  }
  return {"_1h", "1h"};
}

// `ts` within the window: $1 is now, $2 the window in hours.
constexpr const char* kInWindow =
    "ts > $1::timestamptz - $2 * interval '1 hour' AND ts <= $1::timestamptz";

std::vector<IdleFit> IdleFits(pqxx::transaction_base& tx, const Source& src, const std::string& now,
                              long long hours, long long idle_after) {
  std::vector<IdleFit> fits;
  auto rows = tx.exec_params(
      fmt::format("SELECT slice_id, count(*), extract(epoch FROM max(ts) - min(ts))::float8, "
                  "(array_agg(rss_bytes ORDER BY ts))[1]::float8, "
                  "(array_agg(rss_bytes ORDER BY ts DESC))[1]::float8, "
                  "coalesce(regr_slope(rss_bytes::float8, extract(epoch FROM ts)::float8), 0) "
                  "* 3600, regr_r2(rss_bytes::float8, extract(epoch FROM ts)::float8) "
                  "FROM gateway.telemetry{} WHERE {} AND idle_seconds >= $3 AND rss_bytes IS "
                  "NOT NULL GROUP BY slice_id ORDER BY slice_id",
                  src.suffix, kInWindow),
      now, hours, idle_after);
  for (const auto& row : rows) {
    IdleFit f;
    f.slice_id = row[0].as<long long>();
    f.samples = row[1].as<long long>();
    f.span_seconds = row[2].as<double>();
    f.first_rss_bytes = row[3].as<double>();
    f.last_rss_bytes = row[4].as<double>();
    f.slope_bytes_per_hour = row[5].as<double>();
    if (!row[6].is_null()) {
      f.r2 = row[6].as<double>();
    }
    fits.push_back(f);
  }
  return fits;
}

nlohmann::json IdleJson(const std::vector<IdleFit>& fits, long long idle_after) {
  std::vector<double> slopes;
  std::vector<double> first;
  std::vector<double> last;
  for (const auto& f : fits) {
    if (IsJudgeable(f)) {
      slopes.push_back(f.slope_bytes_per_hour);
      first.push_back(f.first_rss_bytes);
      last.push_back(f.last_rss_bytes);
    }
  }
  return {{"idle_after_seconds", idle_after},
          {"slices", fits.size()},
          {"judgeable", slopes.size()},
          {"trend", IdleTrend(fits)},
          {"median_slope_bytes_per_hour", Median(slopes)},
          {"median_first_rss_bytes", Median(first)},
          {"median_last_rss_bytes", Median(last)}};
}

nlohmann::json LeaksJson(std::vector<IdleFit> fits) {
  std::erase_if(fits, [](const IdleFit& f) { return !IsLeaking(f); });
  std::sort(fits.begin(), fits.end(), [](const IdleFit& a, const IdleFit& b) {
    return a.slope_bytes_per_hour > b.slope_bytes_per_hour;
  });
  nlohmann::json out = nlohmann::json::array();
  for (const auto& f : fits) {
    out.push_back({{"slice_id", f.slice_id},
                   {"samples", f.samples},
                   {"span_hours", f.span_seconds / 3600},
                   {"slope_bytes_per_hour", f.slope_bytes_per_hour},
                   {"r2", f.r2.value_or(0)},
                   {"first_rss_bytes", f.first_rss_bytes},
                   {"last_rss_bytes", f.last_rss_bytes}});
  }
  return out;
}

std::vector<SwapBucket> SwapBuckets(pqxx::transaction_base& tx, const Source& src,
                                    const std::string& now, long long hours) {
  // Slice samples count toward a bucket only when their channel is paired: "unpaired" is a
  // tenant who never connected, not a disconnection.
  auto rows = tx.exec_params(
      fmt::format(
          "WITH s AS (SELECT ts, least(width_bucket(100.0 * swap_used_bytes / swap_total_bytes, "
          "0, 100, 10), 10) AS b, swapin_pages_per_s FROM gateway.server_telemetry{0} WHERE {1} "
          "AND swap_total_bytes > 0), "
          "d AS (SELECT s.b, count(*) AS n, count(*) FILTER (WHERE t.wa_state = 'disconnected') "
          "AS dis FROM gateway.telemetry{0} t JOIN s USING (ts) WHERE t.wa_state IS NOT NULL "
          "AND t.wa_state <> 'unpaired' GROUP BY s.b) "
          "SELECT s.b, count(*), coalesce(avg(s.swapin_pages_per_s), 0)::float8, "
          "coalesce(max(s.swapin_pages_per_s), 0)::float8, coalesce(d.n, 0), coalesce(d.dis, 0) "
          "FROM s LEFT JOIN d USING (b) GROUP BY s.b, d.n, d.dis ORDER BY s.b",
          src.suffix, kInWindow),
      now, hours);
  std::vector<SwapBucket> out;
  for (const auto& row : rows) {
    SwapBucket b;
    b.from_percent = (row[0].as<int>() - 1) * 10;
    b.samples = row[1].as<long long>();
    b.swapin_avg = row[2].as<double>();
    b.swapin_max = row[3].as<double>();
    b.slice_samples = row[4].as<long long>();
    b.slice_disconnected = row[5].as<long long>();
    out.push_back(b);
  }
  return out;
}

nlohmann::json SwapJson(const std::vector<SwapBucket>& buckets, double threshold) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& b : buckets) {
    list.push_back({{"from_percent", b.from_percent},
                    {"to_percent", b.from_percent + 10},
                    {"samples", b.samples},
                    {"swapin_avg_pages_per_s", b.swapin_avg},
                    {"swapin_max_pages_per_s", b.swapin_max},
                    {"whatsapp_samples", b.slice_samples},
                    {"whatsapp_disconnected_fraction",
                     b.slice_samples == 0 ? 0.0
                                          : static_cast<double>(b.slice_disconnected) /
                                                static_cast<double>(b.slice_samples)}});
  }
  auto thrashing = ThrashingFromPercent(buckets, threshold);
  return {{"available", !buckets.empty()},
          {"threshold_pages_per_s", threshold},
          {"thrashing_from_percent", thrashing ? nlohmann::json(*thrashing) : nullptr},
          {"buckets", list}};
}

nlohmann::json WakeJson(pqxx::transaction_base& tx, const Source& src, const std::string& now,
                        long long hours, long long idle_after) {
  // A wake: the idle counter fell after a sample that was idle long enough.
  auto row = tx.exec_params1(
      fmt::format("SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY greatest(pswap - "
                  "swap_bytes, 0)::float8), percentile_cont(0.5) WITHIN GROUP (ORDER BY "
                  "(rss_bytes - prss)::float8) FROM (SELECT rss_bytes, swap_bytes, idle_seconds, "
                  "lag(idle_seconds) OVER w AS pidle, lag(rss_bytes) OVER w AS prss, "
                  "lag(swap_bytes) OVER w AS pswap FROM gateway.telemetry{} WHERE {} "
                  "WINDOW w AS (PARTITION BY slice_id ORDER BY ts)) x "
                  "WHERE pidle >= $3 AND idle_seconds < pidle",
                  src.suffix, kInWindow),
      now, hours, idle_after);
  auto number = [](const pqxx::field& f) {
    return f.is_null() ? nlohmann::json(nullptr) : nlohmann::json(f.as<double>());
  };
  return {{"wakes", row[0].as<long long>()},
          {"median_paged_in_bytes", number(row[1])},
          {"median_rss_growth_bytes", number(row[2])},
          {"latency", "not in telemetry: samples are a minute apart (docs/operations.md)"}};
}

std::vector<SliceCountLoad> Loads(pqxx::transaction_base& tx, const Source& src,
                                  const std::string& now, long long hours, const Thresholds& t) {
  auto rows = tx.exec_params(
      fmt::format("SELECT slices_running, count(*), count(*) FILTER (WHERE (ram_total_bytes > 0 "
                  "AND 100.0 * ram_used_bytes / ram_total_bytes > $3) OR cpu_percent > $4 OR "
                  "swapin_pages_per_s > $5) FROM gateway.server_telemetry{} WHERE {} "
                  "GROUP BY 1 ORDER BY 1",
                  src.suffix, kInWindow),
      now, hours, t.ram_percent, t.cpu_percent, t.swapin_pages_per_s);
  std::vector<SliceCountLoad> out;
  for (const auto& row : rows) {
    out.push_back({row[0].as<int>(), row[1].as<long long>(), row[2].as<long long>()});
  }
  return out;
}

nlohmann::json StressJson(const std::vector<SliceCountLoad>& loads, const Thresholds& t) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& l : loads) {
    list.push_back(
        {{"slices_running", l.slices_running}, {"samples", l.samples}, {"stressed", l.stressed}});
  }
  auto began = StressBeganAt(loads);
  return {{"criteria",
           {{"ram_percent", t.ram_percent},
            {"cpu_percent", t.cpu_percent},
            {"swapin_pages_per_s", t.swapin_pages_per_s},
            {"share_of_samples", 0.25}}},
          {"began_at_slices", began ? nlohmann::json(*began) : nullptr},
          {"by_slices_running", list}};
}

}  // namespace

bool IsJudgeable(const IdleFit& fit) {
  return fit.samples >= 3 && fit.span_seconds >= kMinSpanSeconds;
}

bool IsLeaking(const IdleFit& fit) {
  return fit.samples >= 5 && fit.span_seconds >= kMinSpanSeconds &&
         fit.slope_bytes_per_hour >= kMiB && fit.r2.value_or(0) >= 0.6;
}

std::string IdleTrend(const std::vector<IdleFit>& fits) {
  std::vector<double> slopes;
  for (const auto& f : fits) {
    if (IsJudgeable(f)) {
      slopes.push_back(f.slope_bytes_per_hour);
    }
  }
  if (slopes.empty()) {
    return "unknown";
  }
  double median = Median(slopes);
  return median >= kMiB ? "creeping" : median <= -kMiB ? "shrinking" : "stable";
}

std::optional<int> ThrashingFromPercent(const std::vector<SwapBucket>& buckets,
                                        double threshold_pages_per_s) {
  for (const auto& b : buckets) {
    if (b.samples > 0 && b.swapin_avg >= threshold_pages_per_s) {
      return b.from_percent;
    }
  }
  return std::nullopt;
}

std::optional<int> StressBeganAt(const std::vector<SliceCountLoad>& loads) {
  for (const auto& l : loads) {
    if (l.samples > 0 && l.stressed * 4 >= l.samples) {
      return l.slices_running;
    }
  }
  return std::nullopt;
}

nlohmann::json BuildReport(pqxx::transaction_base& tx, TimePoint now,
                           const ReportOptions& options) {
  Source src = SourceFor(options.window);
  std::string at = crm::FormatIso(now);
  long long hours = options.window.count();
  long long idle_after = options.idle_after.count();
  auto counts =
      tx.exec_params1(fmt::format("SELECT (SELECT count(*) FROM gateway.telemetry{0} WHERE {1}), "
                                  "(SELECT count(*) FROM gateway.server_telemetry{0} WHERE {1})",
                                  src.suffix, kInWindow),
                      at, hours);
  auto fits = IdleFits(tx, src, at, hours, idle_after);
  return {
      {"window_hours", hours},
      {"to", at},
      {"resolution", src.name},
      {"slice_samples", counts[0].as<long long>()},
      {"server_samples", counts[1].as<long long>()},
      {"idle_footprint", IdleJson(fits, idle_after)},
      {"leaks", LeaksJson(fits)},
      {"swap", SwapJson(SwapBuckets(tx, src, at, hours), options.thresholds.swapin_pages_per_s)},
      {"wake", WakeJson(tx, src, at, hours, idle_after)},
      {"stress", StressJson(Loads(tx, src, at, hours, options.thresholds), options.thresholds)}};
}

}  // namespace crm::monitor
