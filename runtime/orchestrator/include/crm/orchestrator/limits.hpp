// Per-slice memory limits, through whatever the host allows: cgroup v2, cgroup v1 (the memory
// controller), or an address-space rlimit set in the child before exec. The mechanism in use is
// reported (admin API, slice list) so an operator knows what the limit really means.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace crm::orchestrator {

enum class LimitMechanism { kCgroupV2, kCgroupV1, kRlimit };

class MemoryLimiter {
 public:
  /// Probes the host, preferring cgroup v2, then v1, then rlimits. `cgroup_root` is
  /// /sys/fs/cgroup except in tests; `self_cgroup` the contents of /proc/self/cgroup.
  static MemoryLimiter Detect(const std::filesystem::path& cgroup_root = "/sys/fs/cgroup");

  LimitMechanism mechanism() const { return mechanism_; }
  /// "cgroup-v2", "cgroup-v1" or "rlimit-as".
  std::string name() const;

  /// Puts `pid` under a limit of `bytes` in the slice's own group. Throws RuntimeError when the
  /// cgroup files cannot be written. A no-op for rlimits (applied by ChildSetup()).
  void Apply(long long slice_id, pid_t pid, std::uint64_t bytes) const;
  /// For rlimits: to be called in the child between fork and exec.
  void ChildSetup(std::uint64_t bytes) const;
  /// The slice's current memory use per the cgroup, when there is one.
  std::optional<std::uint64_t> Usage(long long slice_id) const;
  /// Removes the slice's group (after its process exited).
  void Release(long long slice_id) const;
  /// The slice's cgroup directory; nullopt under rlimits (no group).
  std::optional<std::filesystem::path> GroupDir(long long slice_id) const;

 private:
  std::filesystem::path SliceDir(long long slice_id) const;
  LimitMechanism mechanism_ = LimitMechanism::kRlimit;
  std::filesystem::path parent_;  ///< the directory slice groups are created in
};

/// Per-slice CPU limits (a quota of `cores` per 100 ms period): cgroup v2 `cpu.max`, else the
/// cgroup v1 cpu controller's `cpu.cfs_quota_us`; elsewhere unavailable (and recorded so).
class CpuLimiter {
 public:
  enum class Mechanism { kCgroupV2, kCgroupV1, kUnavailable };
  /// Probes the host after MemoryLimiter::Detect (which leaves crmd's own group under v2).
  static CpuLimiter Detect(const std::filesystem::path& cgroup_root = "/sys/fs/cgroup");

  Mechanism mechanism() const { return mechanism_; }
  /// "cgroup-v2", "cgroup-v1" or "unavailable".
  std::string name() const;
  /// The quota per 100,000 µs period for `cores` ("50000 100000" for 0.5 under v2).
  static std::string CpuMax(double cores);

  /// Puts `pid` under a quota of `cores`. Throws RuntimeError when the files cannot be written;
  /// a no-op when unavailable or `cores` is 0.
  void Apply(long long slice_id, pid_t pid, double cores) const;
  /// Removes the slice's group (v1; under v2 the memory limiter's group is the same one).
  void Release(long long slice_id) const;

 private:
  std::filesystem::path SliceDir(long long slice_id) const;
  Mechanism mechanism_ = Mechanism::kUnavailable;
  std::filesystem::path parent_;
};

}  // namespace crm::orchestrator
