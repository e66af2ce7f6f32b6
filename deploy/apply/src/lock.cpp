#include "crm/apply/lock.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "crm/error.hpp"
#include "crm/process.hpp"

namespace crm::apply {

std::filesystem::path LockPath(const std::filesystem::path& dir) {
  return dir / ".crmctl.lock";
}

ApplyLock ApplyLock::Acquire(const std::filesystem::path& path) {
  ApplyLock lock(path);
  // Two attempts: the second after removing a dead owner's lock.
  for (int attempt = 0; attempt < 2; ++attempt) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0) {
      const std::string text = fmt::format("{}\n", ::getpid());
      const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
      ::close(fd);
      if (!ok) {
        std::filesystem::remove(path);
        throw RuntimeError(fmt::format("{}: cannot write the lock", path.string()));
      }
      lock.held_ = true;
      return lock;
    }
    if (errno != EEXIST) {
      throw RuntimeError(
          fmt::format("{}: cannot create the lock: {}", path.string(), std::strerror(errno)));
    }
    const std::optional<pid_t> owner = ReadPidFile(path);
    if (owner && ProcessExists(*owner)) {
      throw RuntimeError(fmt::format(
          "{} is held by process {}: another crmctl apply/destroy is running on this deployment; "
          "wait for it to finish (if pid {} is not crmctl, remove the file)",
          path.string(), *owner, *owner));
    }
    lock.stale_pid_ = owner.value_or(0);
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
  throw RuntimeError(fmt::format("{}: another process keeps re-creating the lock", path.string()));
}

ApplyLock::ApplyLock(ApplyLock&& other) noexcept
    : path_(std::move(other.path_)), stale_pid_(other.stale_pid_), held_(other.held_) {
  other.held_ = false;
}

ApplyLock::~ApplyLock() {
  Release();
}

void ApplyLock::Release() {
  if (held_) {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
    held_ = false;
  }
}

}  // namespace crm::apply
