#include "crm/monitor/telemetry_store.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "crm/clock.hpp"
#include "crm/db/json.hpp"
#include "crm/error.hpp"

namespace crm::monitor {
namespace {

constexpr const char* kEpoch = "TIMESTAMPTZ '1970-01-01 00:00:00+00'";

template <class T>
std::optional<long long> AsBigint(const std::optional<T>& v) {
  return v ? std::optional<long long>(static_cast<long long>(*v)) : std::nullopt;
}

long long Bigint(std::uint64_t v) {
  return static_cast<long long>(v);
}

// One rollup step: `from` rows in complete `bucket`s before `now` that `to` has not got yet,
// grouped by `key` (with ts), averaged (`averages`), the worst kept (`maxima`: column→source).
struct RollupSpec {
  std::string from;
  std::string to;
  std::string bucket;  ///< "5 minutes", "1 hour"
  std::string key;     ///< "slice_id, " or ""
  std::vector<std::string> averages;
  std::vector<std::pair<std::string, std::string>> maxima;  ///< target column, expression
  std::vector<std::string> integers;                        ///< averages to round to bigint
};

void Rollup(pqxx::transaction_base& tx, const RollupSpec& s, const std::string& now) {
  std::string columns = "ts, " + s.key;
  std::string values = fmt::format("date_bin('{}', ts, {}) AS b, {}", s.bucket, kEpoch, s.key);
  for (const auto& c : s.averages) {
    bool integer = std::find(s.integers.begin(), s.integers.end(), c) != s.integers.end();
    columns += c + ", ";
    values += integer ? fmt::format("round(avg({}))::bigint, ", c) : fmt::format("avg({}), ", c);
  }
  for (const auto& [column, expression] : s.maxima) {
    columns += column + ", ";
    values += expression + ", ";
  }
  columns.resize(columns.size() - 2);
  values.resize(values.size() - 2);
  tx.exec_params(
      fmt::format("INSERT INTO gateway.{to} ({columns}) SELECT {values} FROM gateway.{from} "
                  "WHERE ts < date_bin('{bucket}', $1::timestamptz, {epoch}) AND ts >= "
                  "coalesce((SELECT max(ts) FROM gateway.{to}) + interval '{bucket}', "
                  "'-infinity') GROUP BY b{group} ON CONFLICT DO NOTHING",
                  fmt::arg("to", s.to), fmt::arg("columns", columns), fmt::arg("values", values),
                  fmt::arg("from", s.from), fmt::arg("bucket", s.bucket), fmt::arg("epoch", kEpoch),
                  fmt::arg("group", s.key.empty() ? "" : ", slice_id")),
      now);
}

const std::vector<std::string> kSliceAverages = {"rss_bytes",   "pss_bytes",    "swap_bytes",
                                                 "cpu_percent", "idle_seconds", "storage_bytes",
                                                 "streams",     "pending_tasks"};
const std::vector<std::string> kSliceIntegers = {"rss_bytes",    "pss_bytes",     "swap_bytes",
                                                 "idle_seconds", "storage_bytes", "streams",
                                                 "pending_tasks"};
const std::vector<std::string> kServerAverages = {
    "ram_used_bytes",    "ram_total_bytes",    "swap_used_bytes",
    "swap_total_bytes",  "swapin_pages_per_s", "cpu_percent",
    "disk_used_bytes",   "disk_total_bytes",   "load1",
    "slices_running",    "slices_total",       "pg_connections",
    "gateway_pss_bytes", "postgres_pss_bytes"};
const std::vector<std::string> kServerIntegers = {
    "ram_used_bytes",  "ram_total_bytes",   "swap_used_bytes",   "swap_total_bytes",
    "disk_used_bytes", "disk_total_bytes",  "slices_running",    "slices_total",
    "pg_connections",  "gateway_pss_bytes", "postgres_pss_bytes"};

}  // namespace

SeriesRange ParseRange(const std::string& text, std::chrono::seconds raw_step) {
  using std::chrono::days;
  using std::chrono::hours;
  if (text == "24h") {
    return {"24h", hours(24), "", static_cast<int>(raw_step.count())};
  }
  if (text == "7d") {
    return {"7d", days(7), "_5m", 300};
  }
  if (text == "30d") {
    return {"30d", days(30), "_1h", 3600};
  }
  throw InputError("range: expected 24h, 7d or 30d, got \"" + text + "\"", "range");
}

void TelemetryStore::Insert(TimePoint ts, const SliceSample& s) {
  tx_.exec_params(
      "INSERT INTO gateway.telemetry (ts, slice_id, rss_bytes, pss_bytes, swap_bytes, "
      "cpu_percent, wa_state, idle_seconds, storage_bytes, streams, pending_tasks) "
      "VALUES ($1::timestamptz, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
      crm::FormatIso(ts), s.slice_id, AsBigint(s.rss_bytes), AsBigint(s.pss_bytes),
      AsBigint(s.swap_bytes), s.cpu_percent, s.wa_state, s.idle_seconds, AsBigint(s.storage_bytes),
      s.streams, s.pending_tasks);
}

void TelemetryStore::Insert(TimePoint ts, const ServerSample& s) {
  tx_.exec_params(
      "INSERT INTO gateway.server_telemetry (ts, ram_used_bytes, ram_total_bytes, "
      "swap_used_bytes, swap_total_bytes, swapin_pages_per_s, cpu_percent, disk_used_bytes, "
      "disk_total_bytes, load1, slices_running, slices_total, pg_connections, gateway_pss_bytes, "
      "postgres_pss_bytes) "
      "VALUES ($1::timestamptz, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) "
      "ON CONFLICT DO NOTHING",
      crm::FormatIso(ts), Bigint(s.ram_used_bytes), Bigint(s.ram_total_bytes),
      Bigint(s.swap_used_bytes), Bigint(s.swap_total_bytes), s.swapin_pages_per_s, s.cpu_percent,
      Bigint(s.disk_used_bytes), Bigint(s.disk_total_bytes), s.load1, s.slices_running,
      s.slices_total, s.pg_connections, AsBigint(s.gateway_pss_bytes),
      AsBigint(s.postgres_pss_bytes));
}

void TelemetryStore::RollupAndPrune(TimePoint now, const Retention& retention) {
  std::string at = crm::FormatIso(now);
  Rollup(tx_,
         {"telemetry",
          "telemetry_5m",
          "5 minutes",
          "slice_id, ",
          kSliceAverages,
          {{"wa_state", "max(wa_state)"},
           {"rss_max_bytes", "max(rss_bytes)"},
           {"cpu_max_percent", "max(cpu_percent)"}},
          kSliceIntegers},
         at);
  Rollup(tx_,
         {"telemetry_5m",
          "telemetry_1h",
          "1 hour",
          "slice_id, ",
          kSliceAverages,
          {{"wa_state", "max(wa_state)"},
           {"rss_max_bytes", "max(rss_max_bytes)"},
           {"cpu_max_percent", "max(cpu_max_percent)"}},
          kSliceIntegers},
         at);
  Rollup(tx_,
         {"server_telemetry",
          "server_telemetry_5m",
          "5 minutes",
          "",
          kServerAverages,
          {{"ram_used_max_bytes", "max(ram_used_bytes)"},
           {"cpu_max_percent", "max(cpu_percent)"},
           {"swapin_max_pages_per_s", "max(swapin_pages_per_s)"}},
          kServerIntegers},
         at);
  Rollup(tx_,
         {"server_telemetry_5m",
          "server_telemetry_1h",
          "1 hour",
          "",
          kServerAverages,
          {{"ram_used_max_bytes", "max(ram_used_max_bytes)"},
           {"cpu_max_percent", "max(cpu_max_percent)"},
           {"swapin_max_pages_per_s", "max(swapin_max_pages_per_s)"}},
          kServerIntegers},
         at);
  auto prune = [&](const std::string& table, std::chrono::seconds keep) {
    tx_.exec_params(
        "DELETE FROM gateway." + table + " WHERE ts < $1::timestamptz - $2 * interval '1 second'",
        at, static_cast<long long>(keep.count()));
  };
  prune("telemetry", retention.raw);
  prune("server_telemetry", retention.raw);
  prune("telemetry_5m", retention.five_minutes);
  prune("server_telemetry_5m", retention.five_minutes);
  prune("telemetry_1h", retention.hourly);
  prune("server_telemetry_1h", retention.hourly);
}

std::pair<int, std::vector<int>> TelemetryStore::PgPids() {
  std::vector<int> pids;
  for (const auto& row : tx_.exec("SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL")) {
    pids.push_back(row[0].as<int>());
  }
  return {tx_.exec1("SELECT pg_backend_pid()")[0].as<int>(), std::move(pids)};
}

int TelemetryStore::PgConnections() {
  return tx_.exec1("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")[0]
      .as<int>();
}

nlohmann::json TelemetryStore::LatestServer() {
  auto rows = tx_.exec(
      "SELECT row_to_json(t)::text FROM (SELECT * FROM gateway.server_telemetry "
      "ORDER BY ts DESC LIMIT 1) t");
  return rows.empty() ? nlohmann::json::object() : db::JsonOf(rows[0][0]);
}

std::map<long long, std::string> TelemetryStore::LatestWaStates() {
  std::map<long long, std::string> out;
  for (const auto& row :
       tx_.exec("SELECT DISTINCT ON (slice_id) slice_id, wa_state FROM gateway.telemetry "
                "WHERE ts > (SELECT max(ts) FROM gateway.telemetry) - interval '1 hour' "
                "ORDER BY slice_id, ts DESC")) {
    if (!row[1].is_null()) {
      out[row[0].as<long long>()] = row[1].as<std::string>();
    }
  }
  return out;
}

nlohmann::json TelemetryStore::ServerSeries(const SeriesRange& range, TimePoint now) {
  auto r = tx_.exec_params1(
      "SELECT coalesce(json_agg(t ORDER BY t.ts), '[]')::text FROM (SELECT ts, ram_used_bytes, "
      "ram_total_bytes, swap_used_bytes, swapin_pages_per_s, cpu_percent, disk_used_bytes FROM "
      "gateway.server_telemetry" +
          range.table_suffix +
          " WHERE ts > $1::timestamptz - $2 * interval '1 second' AND ts <= $1::timestamptz) t",
      crm::FormatIso(now), static_cast<long long>(range.span.count()));
  return db::JsonOf(r[0]);
}

nlohmann::json TelemetryStore::SliceSeries(long long slice_id, const SeriesRange& range,
                                           TimePoint now) {
  auto r = tx_.exec_params1(
      "SELECT coalesce(json_agg(t ORDER BY t.ts), '[]')::text FROM (SELECT ts, rss_bytes, "
      "pss_bytes, swap_bytes, cpu_percent, wa_state FROM gateway.telemetry" +
          range.table_suffix +
          " WHERE slice_id = $3 AND ts > $1::timestamptz - $2 * interval '1 second' AND ts <= "
          "$1::timestamptz) t",
      crm::FormatIso(now), static_cast<long long>(range.span.count()), slice_id);
  return db::JsonOf(r[0]);
}

}  // namespace crm::monitor
