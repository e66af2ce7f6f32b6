// Idle slices' memory pushed out (docs/operations.md, "Idle memory reclaim"): where cgroup v2's
// memory.reclaim is writable for a slice's group, the leading monitor asks the kernel to reclaim
// the memory of a slice idle longer than a threshold, never one with an open event stream or a
// request within it; elsewhere it says once why it cannot.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace crm::monitor {

/// A slice as the reclaim decision sees it at a telemetry pass.
struct ReclaimCandidate {
  long long slice_id = 0;
  bool process_alive = false;
  /// Since its tenant's last request (through any session); nullopt: none recorded (a warm slice).
  std::optional<long long> idle_seconds;
  /// Open event streams (its GET /api/status); nullopt: the slice did not say.
  std::optional<int> streams;
};

enum class ReclaimDecision {
  kReclaim,
  kOff,             ///< the idle threshold is 0
  kNotRunning,      ///< no live process
  kStreamOpen,      ///< an event stream is open (a tenant is looking at it)
  kStreamsUnknown,  ///< the slice did not report its streams: assume one is open
  kNotIdle,         ///< a request within the threshold, or none recorded
  kDone,            ///< already reclaimed in this idle period
};
/// "reclaim", "off", "not_running", "stream_open", "streams_unknown", "not_idle", "done".
std::string ToString(ReclaimDecision decision);

/// Whether `c`'s memory may be pushed out now. `reclaimed_at_idle`: its idle seconds when it was
/// last reclaimed, if it was since its last request (a smaller idle count now means a request came
/// in between, so a new idle period).
ReclaimDecision DecideReclaim(const ReclaimCandidate& c, std::chrono::seconds idle_after,
                              std::optional<long long> reclaimed_at_idle);

/// What one reclaim did (memory.current before and after the write).
struct ReclaimResult {
  long long slice_id = 0;
  std::uint64_t before_bytes = 0;
  std::uint64_t after_bytes = 0;
};

class MemoryReclaimer {
 public:
  using GroupOf = std::function<std::optional<std::filesystem::path>(long long slice_id)>;
  /// `idle_after` 0: off. `group_of`: a slice's cgroup v2 directory (nullopt: none).
  /// `unavailable`: why this host cannot reclaim at all (cgroup v1, rlimits), empty when it may;
  /// logged once here.
  MemoryReclaimer(std::chrono::seconds idle_after, GroupOf group_of, std::string unavailable);

  /// One pass over the running slices: writes memory.current's value into memory.reclaim of each
  /// slice DecideReclaim allows (the kernel reclaims what it can) and logs before and after. A
  /// group without memory.reclaim (Linux before 5.19) or a write refused makes reclaim
  /// unavailable, logged once. Never throws.
  std::vector<ReclaimResult> Pass(const std::vector<ReclaimCandidate>& candidates);

  /// {"enabled", "available", "reason" (null when available), "idle_after_seconds",
  /// "reclaims", "reclaimed_bytes"}: GET /admin/overview's "monitor"."reclaim".
  nlohmann::json Status() const;

 private:
  void MarkUnavailable(const std::string& why);

  std::chrono::seconds idle_after_;
  GroupOf group_of_;
  mutable std::mutex mutex_;  ///< Pass runs on the monitor's thread, Status on HTTP threads
  std::string unavailable_;
  std::map<long long, long long> reclaimed_at_idle_;
  long long reclaims_ = 0;
  std::uint64_t reclaimed_bytes_ = 0;
};

}  // namespace crm::monitor
