// One apply (or destroy) at a time per deployment: a lock file holding the owner's pid. A lock
// left by a process that no longer exists is detected by its pid, reported and taken over.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>

namespace crm::apply {

/// DIR/.crmctl.lock, the lock of a deployment directory.
std::filesystem::path LockPath(const std::filesystem::path& dir);

class ApplyLock {
 public:
  /// Takes the lock at `path` for this process. Throws RuntimeError naming the holder's pid when
  /// a live process holds it. When the recorded holder is dead, the stale lock is replaced and
  /// stale_pid() says whose it was (the caller reports it).
  static ApplyLock Acquire(const std::filesystem::path& path);

  ApplyLock(ApplyLock&& other) noexcept;
  ApplyLock& operator=(ApplyLock&&) = delete;
  ApplyLock(const ApplyLock&) = delete;
  ~ApplyLock();

  /// The pid of a dead process whose lock was taken over, if any.
  std::optional<pid_t> stale_pid() const { return stale_pid_; }
  /// Removes the lock file now (destroy --purge does before deleting the directory).
  void Release();

 private:
  explicit ApplyLock(std::filesystem::path path) : path_(std::move(path)) {}
  std::filesystem::path path_;
  std::optional<pid_t> stale_pid_;
  bool held_ = false;
};

}  // namespace crm::apply
