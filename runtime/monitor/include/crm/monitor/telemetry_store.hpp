// Telemetry's SQL: raw samples (gateway.telemetry, gateway.server_telemetry), their 5-minute
// and hourly rollups, retention, and the series the admin charts read. Runs inside the
// caller's transaction; the caller commits.
#pragma once

#include <pqxx/pqxx>

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "crm/monitor/checks.hpp"

namespace crm::monitor {

struct SliceSample {
  long long slice_id = 0;
  std::optional<std::uint64_t> rss_bytes;
  std::optional<std::uint64_t> pss_bytes;
  std::optional<std::uint64_t> swap_bytes;
  std::optional<double> cpu_percent;
  std::optional<std::string> wa_state;
  std::optional<long long> idle_seconds;
  std::optional<std::uint64_t> storage_bytes;
  std::optional<int> streams;              ///< open event streams (its GET /api/status)
  std::optional<long long> pending_tasks;  ///< queued tasks (its GET /api/status)
};

struct ServerSample {
  std::uint64_t ram_used_bytes = 0;
  std::uint64_t ram_total_bytes = 0;
  std::uint64_t swap_used_bytes = 0;
  std::uint64_t swap_total_bytes = 0;
  std::optional<double> swapin_pages_per_s;  ///< nullopt on the first sample (no rate yet)
  std::optional<double> cpu_percent;
  std::uint64_t disk_used_bytes = 0;
  std::uint64_t disk_total_bytes = 0;
  double load1 = 0;
  int slices_running = 0;
  int slices_total = 0;
  int pg_connections = 0;
  /// PSS of the gateway process and of PostgreSQL's processes on this host (nullopt: not
  /// readable, or PostgreSQL runs elsewhere).
  std::optional<std::uint64_t> gateway_pss_bytes;
  std::optional<std::uint64_t> postgres_pss_bytes;
};

/// How long each resolution is kept.
struct Retention {
  std::chrono::seconds raw{std::chrono::hours(48)};
  std::chrono::seconds five_minutes{std::chrono::days(30)};
  std::chrono::seconds hourly{std::chrono::days(365)};
};

/// A chart's range: "24h" (raw), "7d" (5-minute rollups) or "30d" (hourly rollups).
struct SeriesRange {
  std::string name;
  std::chrono::seconds span{0};
  std::string table_suffix;  ///< "", "_5m" or "_1h"
  int step_seconds = 0;
};
/// Throws InputError (field "range") for anything else.
SeriesRange ParseRange(const std::string& text, std::chrono::seconds raw_step);

class TelemetryStore {
 public:
  explicit TelemetryStore(pqxx::transaction_base& tx) : tx_(tx) {}

  void Insert(TimePoint ts, const SliceSample& sample);
  void Insert(TimePoint ts, const ServerSample& sample);
  /// Rolls every complete 5-minute and hourly bucket before `now` not rolled up yet, then
  /// deletes what is older than its retention.
  void RollupAndPrune(TimePoint now, const Retention& retention);

  /// Connections to the database server right now.
  int PgConnections();
  /// This connection's backend pid and every server process's pid, as PostgreSQL sees them.
  std::pair<int, std::vector<int>> PgPids();
  /// The newest server row as JSON ({} when there is none).
  nlohmann::json LatestServer();
  /// Each slice's newest WhatsApp state.
  std::map<long long, std::string> LatestWaStates();
  /// The admin charts' points within `range` before `now`, oldest first.
  nlohmann::json ServerSeries(const SeriesRange& range, TimePoint now);
  nlohmann::json SliceSeries(long long slice_id, const SeriesRange& range, TimePoint now);

 private:
  pqxx::transaction_base& tx_;
};

}  // namespace crm::monitor
