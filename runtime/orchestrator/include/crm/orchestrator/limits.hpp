// Per-slice memory limits, through whatever the host allows: cgroup v2, cgroup v1 (the memory
// controller), or an address-space rlimit set in the child before exec. The mechanism in use is
// reported (admin API, slice list) so an operator knows what the limit really means.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace crm::orchestrator {

/// The cgroup membership files (cgroup.procs) a new slice process writes its own pid to between
/// fork and exec: it runs in its groups from its first instruction, and so does everything it
/// starts (a wa-web sidecar, which has a process group of its own). Opened in the parent, where
/// allocating is allowed; Join() in the child is async-signal-safe.
class GroupJoin {
 public:
  GroupJoin() = default;
  ~GroupJoin();
  GroupJoin(const GroupJoin&) = delete;
  GroupJoin& operator=(const GroupJoin&) = delete;

  /// Opens `procs` for writing (once per path). Throws RuntimeError when it cannot.
  void Add(const std::filesystem::path& procs);
  /// In the child before exec: writes getpid() to every file added. False (errno set) at the
  /// first one the kernel refuses.
  bool Join() const noexcept;
  bool empty() const { return fds_.empty(); }

 private:
  std::vector<int> fds_;
  std::vector<std::filesystem::path> paths_;
};

enum class LimitMechanism { kCgroupV2, kCgroupV1, kRlimit };

class MemoryLimiter {
 public:
  /// Probes the host, preferring cgroup v2, then v1, then rlimits. `cgroup_root` is
  /// /sys/fs/cgroup except in tests; `self_cgroup` the contents of /proc/self/cgroup.
  static MemoryLimiter Detect(const std::filesystem::path& cgroup_root = "/sys/fs/cgroup");

  LimitMechanism mechanism() const { return mechanism_; }
  /// "cgroup-v2", "cgroup-v1" or "rlimit-as".
  std::string name() const;

  /// Creates the slice's own group with a limit of `bytes`; the group's cgroup.procs, for a
  /// GroupJoin, or nullopt under rlimits (applied by ChildSetup()). Throws RuntimeError when the
  /// cgroup files cannot be written.
  std::optional<std::filesystem::path> Prepare(long long slice_id, std::uint64_t bytes) const;
  /// Prepare(), then moves the running `pid` into the group (a process started elsewhere: a new
  /// slice joins before exec through GroupJoin instead).
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

  /// Creates the slice's group with a quota of `cores`; its cgroup.procs for a GroupJoin, or
  /// nullopt when unavailable or `cores` is 0. Throws RuntimeError when the files cannot be
  /// written.
  std::optional<std::filesystem::path> Prepare(long long slice_id, double cores) const;
  /// Prepare(), then moves the running `pid` into the group.
  void Apply(long long slice_id, pid_t pid, double cores) const;
  /// Removes the slice's group (v1; under v2 the memory limiter's group is the same one).
  void Release(long long slice_id) const;

 private:
  std::filesystem::path SliceDir(long long slice_id) const;
  Mechanism mechanism_ = Mechanism::kUnavailable;
  std::filesystem::path parent_;
};

}  // namespace crm::orchestrator
