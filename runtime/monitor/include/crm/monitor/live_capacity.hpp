// Capacity from what runs (docs/operations.md, "Live capacity"): the slices' measured memory and
// storage against the server's headroom below the planner's target utilization, how many more
// slices fit, and when the recent growth in slices fills the server.
#pragma once

#include <pqxx/pqxx>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>

#include "crm/monitor/checks.hpp"

namespace crm::monitor {

/// What the telemetry says now.
struct CapacityInputs {
  bool has_server = false;  ///< false until the monitor sampled the server once
  std::string measured_at;  ///< the newest server sample's time
  std::uint64_t ram_total_bytes = 0;
  std::uint64_t ram_used_bytes = 0;
  std::uint64_t disk_total_bytes = 0;
  std::uint64_t disk_used_bytes = 0;
  int slices_running = 0;
  int slices_total = 0;
  long long slices_sampled = 0;  ///< slices with samples in the footprint window
  double memory_mean_bytes = 0;  ///< per slice: PSS (RSS where PSS is unknown), averaged
  double memory_p90_bytes = 0;
  double storage_mean_bytes = 0;
  std::optional<double> slices_per_day;  ///< least-squares growth of slices_total
  double growth_days = 0;                ///< the span that growth was fitted over
};

/// The shortest history a growth trend is projected from.
inline constexpr double kMinGrowthDays = 1.0;

/// How many more slices fit one resource.
struct Headroom {
  double capacity_bytes = 0;  ///< total × target
  double used_bytes = 0;
  double per_slice_bytes = 0;
  std::optional<long long> more_slices;  ///< nullopt when nothing per slice was measured
};

struct LiveCapacity {
  Headroom ram;
  Headroom disk;
  std::optional<long long> more_slices;  ///< the smaller of the two
  std::string binding;                   ///< "ram" or "disk"
  std::optional<double> days_to_fill;    ///< nullopt when slices are not growing
};

/// `target`: the share of RAM and disk the planner fills (its target_utilization, 0.7).
LiveCapacity ComputeLiveCapacity(const CapacityInputs& in, double target);

/// The inputs at `now`: the newest server sample, each slice's average over the last hour of
/// raw samples, and the growth of slices_total over the last 30 days of 5-minute rollups (the
/// raw samples when no rollup exists yet).
CapacityInputs ReadCapacityInputs(pqxx::transaction_base& tx, TimePoint now);

/// The JSON `GET /admin/capacity` answers (also the overview's capacity figures).
nlohmann::json LiveCapacityJson(const CapacityInputs& in, const LiveCapacity& cap, double target,
                                TimePoint now);

}  // namespace crm::monitor
