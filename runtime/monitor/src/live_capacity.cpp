#include "crm/monitor/live_capacity.hpp"

#include <cmath>

#include "crm/clock.hpp"

namespace crm::monitor {
namespace {

Headroom HeadroomOf(std::uint64_t total, std::uint64_t used, double per_slice, double target) {
  Headroom h;
  h.capacity_bytes = static_cast<double>(total) * target;
  h.used_bytes = static_cast<double>(used);
  h.per_slice_bytes = per_slice;
  if (per_slice > 0) {
    h.more_slices = std::max(
        0LL, static_cast<long long>(std::floor((h.capacity_bytes - h.used_bytes) / per_slice)));
  }
  return h;
}

nlohmann::json OrNull(const std::optional<long long>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

nlohmann::json HeadroomJson(const Headroom& h) {
  return {{"capacity_bytes", std::llround(h.capacity_bytes)},
          {"used_bytes", std::llround(h.used_bytes)},
          {"per_slice_bytes", std::llround(h.per_slice_bytes)},
          {"more_slices", OrNull(h.more_slices)}};
}

}  // namespace

LiveCapacity ComputeLiveCapacity(const CapacityInputs& in, double target) {
  LiveCapacity cap;
  cap.ram = HeadroomOf(in.ram_total_bytes, in.ram_used_bytes, in.memory_mean_bytes, target);
  cap.disk = HeadroomOf(in.disk_total_bytes, in.disk_used_bytes, in.storage_mean_bytes, target);
  if (cap.ram.more_slices &&
      (!cap.disk.more_slices || *cap.ram.more_slices <= *cap.disk.more_slices)) {
    cap.more_slices = cap.ram.more_slices;
    cap.binding = "ram";
  } else if (cap.disk.more_slices) {
    cap.more_slices = cap.disk.more_slices;
    cap.binding = "disk";
  }
  // Growth below a slice a week is noise, not a trend to project; so is any slope fitted over
  // less than a day (a fresh deployment filling its warm pool reads as hundreds a day).
  if (cap.more_slices && in.slices_per_day && *in.slices_per_day >= 1.0 / 7 &&
      in.growth_days >= kMinGrowthDays) {
    cap.days_to_fill = static_cast<double>(*cap.more_slices) / *in.slices_per_day;
  }
  return cap;
}

CapacityInputs ReadCapacityInputs(pqxx::transaction_base& tx, TimePoint now) {
  CapacityInputs in;
  std::string at = crm::FormatIso(now);
  auto server = tx.exec_params(
      "SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ram_total_bytes, "
      "ram_used_bytes, disk_total_bytes, disk_used_bytes, slices_running, slices_total "
      "FROM gateway.server_telemetry WHERE ts <= $1::timestamptz ORDER BY ts DESC LIMIT 1",
      at);
  if (!server.empty()) {
    const auto& r = server[0];
    in.has_server = true;
    in.measured_at = r[0].as<std::string>();
    in.ram_total_bytes = r[1].as<std::uint64_t>(0);
    in.ram_used_bytes = r[2].as<std::uint64_t>(0);
    in.disk_total_bytes = r[3].as<std::uint64_t>(0);
    in.disk_used_bytes = r[4].as<std::uint64_t>(0);
    in.slices_running = r[5].as<int>(0);
    in.slices_total = r[6].as<int>(0);
  }
  auto footprint = tx.exec_params1(
      "SELECT count(*), coalesce(avg(mem), 0)::float8, coalesce(percentile_cont(0.9) WITHIN "
      "GROUP (ORDER BY mem), 0)::float8, coalesce(avg(storage), 0)::float8 FROM (SELECT "
      "avg(coalesce(pss_bytes, rss_bytes)) AS mem, avg(storage_bytes) AS storage FROM "
      "gateway.telemetry WHERE ts > $1::timestamptz - interval '1 hour' AND ts <= $1::timestamptz "
      "GROUP BY slice_id) s",
      at);
  in.slices_sampled = footprint[0].as<long long>();
  in.memory_mean_bytes = footprint[1].as<double>();
  in.memory_p90_bytes = footprint[2].as<double>();
  in.storage_mean_bytes = footprint[3].as<double>();
  // Growth: the 5-minute rollups of 30 days, else the raw samples of 48 hours.
  for (const char* table : {"server_telemetry_5m", "server_telemetry"}) {
    auto g = tx.exec_params1(
        std::string("SELECT count(*), regr_slope(slices_total::float8, extract(epoch FROM "
                    "ts)::float8) * 86400, extract(epoch FROM max(ts) - min(ts))::float8 / 86400 "
                    "FROM gateway.") +
            table + " WHERE ts > $1::timestamptz - interval '30 days' AND ts <= $1::timestamptz",
        at);
    if (g[0].as<long long>() >= 2 && !g[1].is_null()) {
      in.slices_per_day = g[1].as<double>();
      in.growth_days = g[2].as<double>();
      break;
    }
  }
  return in;
}

nlohmann::json LiveCapacityJson(const CapacityInputs& in, const LiveCapacity& cap, double target,
                                TimePoint now) {
  nlohmann::json fills = nullptr;
  if (cap.days_to_fill) {
    auto seconds = static_cast<long long>(*cap.days_to_fill * 86400);
    fills = crm::FormatIso(now + std::chrono::seconds(seconds)).substr(0, 10);
  }
  return {{"measured_at", in.has_server ? nlohmann::json(in.measured_at) : nlohmann::json(nullptr)},
          {"target_utilization", target},
          {"slices",
           {{"running", in.slices_running},
            {"total", in.slices_total},
            {"sampled", in.slices_sampled}}},
          {"footprint",
           {{"memory_mean_bytes", std::llround(in.memory_mean_bytes)},
            {"memory_p90_bytes", std::llround(in.memory_p90_bytes)},
            {"storage_mean_bytes", std::llround(in.storage_mean_bytes)}}},
          {"ram", HeadroomJson(cap.ram)},
          {"disk", HeadroomJson(cap.disk)},
          {"more_slices", OrNull(cap.more_slices)},
          {"binding", cap.binding.empty() ? nlohmann::json(nullptr) : nlohmann::json(cap.binding)},
          {"growth",
           {{"slices_per_day",
             in.slices_per_day ? nlohmann::json(*in.slices_per_day) : nlohmann::json(nullptr)},
            {"fitted_over_days", in.growth_days},
            {"days_to_fill",
             cap.days_to_fill ? nlohmann::json(*cap.days_to_fill) : nlohmann::json(nullptr)},
            {"fills_on", fills}}}};
}

}  // namespace crm::monitor
