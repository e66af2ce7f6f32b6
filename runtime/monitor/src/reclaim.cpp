#include "crm/monitor/reclaim.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace crm::monitor {
namespace fs = std::filesystem;
namespace {

std::optional<std::uint64_t> ReadBytes(const fs::path& path) {
  std::ifstream in(path);
  std::uint64_t value = 0;
  if (!(in >> value)) {
    return std::nullopt;
  }
  return value;
}

// Writes `text` in one write(2): the kernel answers memory.reclaim's request in that call.
// 0 on success, else errno.
int WriteOnce(const fs::path& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    return errno;
  }
  ssize_t n = ::write(fd, text.data(), text.size());
  int error = n < 0 ? errno : 0;
  ::close(fd);
  return error;
}

}  // namespace

std::string ToString(ReclaimDecision decision) {
  switch (decision) {
    case ReclaimDecision::kReclaim:
      return "reclaim";
    case ReclaimDecision::kOff:
      return "off";
    case ReclaimDecision::kNotRunning:
      return "not_running";
    case ReclaimDecision::kStreamOpen:
      return "stream_open";
    case ReclaimDecision::kStreamsUnknown:
      return "streams_unknown";
    case ReclaimDecision::kNotIdle:
      return "not_idle";
    case ReclaimDecision::kDone:
      return "done";
  }
  return "off";
}

ReclaimDecision DecideReclaim(const ReclaimCandidate& c, std::chrono::seconds idle_after,
                              std::optional<long long> reclaimed_at_idle) {
  if (idle_after.count() <= 0) {
    return ReclaimDecision::kOff;
  }
  if (!c.process_alive) {
    return ReclaimDecision::kNotRunning;
  }
  if (!c.streams) {
    return ReclaimDecision::kStreamsUnknown;
  }
  if (*c.streams > 0) {
    return ReclaimDecision::kStreamOpen;
  }
  if (!c.idle_seconds || *c.idle_seconds < idle_after.count()) {
    return ReclaimDecision::kNotIdle;
  }
  if (reclaimed_at_idle && *c.idle_seconds >= *reclaimed_at_idle) {
    return ReclaimDecision::kDone;
  }
  return ReclaimDecision::kReclaim;
}

MemoryReclaimer::MemoryReclaimer(std::chrono::seconds idle_after, GroupOf group_of,
                                 std::string unavailable)
    : idle_after_(idle_after), group_of_(std::move(group_of)) {
  if (idle_after_.count() > 0 && !unavailable.empty()) {
    MarkUnavailable(unavailable);
  }
}

void MemoryReclaimer::MarkUnavailable(const std::string& why) {
  if (!unavailable_.empty()) {
    return;
  }
  unavailable_ = why;
  spdlog::warn("monitor: reclaim unavailable: {}", why);
}

std::vector<ReclaimResult> MemoryReclaimer::Pass(const std::vector<ReclaimCandidate>& candidates) {
  std::lock_guard lock(mutex_);
  std::vector<ReclaimResult> out;
  std::map<long long, long long> still;
  for (const auto& c : candidates) {
    if (!unavailable_.empty()) {
      break;
    }
    std::optional<long long> at;
    if (auto it = reclaimed_at_idle_.find(c.slice_id); it != reclaimed_at_idle_.end()) {
      at = it->second;
    }
    ReclaimDecision decision = DecideReclaim(c, idle_after_, at);
    if (decision == ReclaimDecision::kDone) {
      still[c.slice_id] = *at;
    }
    if (decision != ReclaimDecision::kReclaim) {
      continue;
    }
    auto group = group_of_(c.slice_id);
    if (!group) {
      continue;
    }
    if (!fs::exists(*group / "memory.reclaim")) {
      MarkUnavailable("no memory.reclaim in " + group->string() +
                      " (the kernel has it from Linux 5.19)");
      break;
    }
    auto before = ReadBytes(*group / "memory.current");
    if (!before) {
      continue;  // the group is gone (the process just exited)
    }
    int error = WriteOnce(*group / "memory.reclaim", std::to_string(*before));
    // EAGAIN: the kernel reclaimed less than asked, which is the expected outcome of asking for
    // all of it.
    if (error != 0 && error != EAGAIN) {
      MarkUnavailable("writing " + (*group / "memory.reclaim").string() + ": " +
                      std::strerror(error));
      break;
    }
    ReclaimResult r{c.slice_id, *before, ReadBytes(*group / "memory.current").value_or(*before)};
    spdlog::info("monitor: slice {} idle {} s: reclaimed {} bytes (memory.current {} → {})",
                 c.slice_id, *c.idle_seconds,
                 r.before_bytes > r.after_bytes ? r.before_bytes - r.after_bytes : 0,
                 r.before_bytes, r.after_bytes);
    ++reclaims_;
    reclaimed_bytes_ += r.before_bytes > r.after_bytes ? r.before_bytes - r.after_bytes : 0;
    still[c.slice_id] = *c.idle_seconds;
    out.push_back(r);
  }
  reclaimed_at_idle_ = std::move(still);
  return out;
}

nlohmann::json MemoryReclaimer::Status() const {
  std::lock_guard lock(mutex_);
  bool enabled = idle_after_.count() > 0;
  return {{"enabled", enabled},
          {"available", enabled && unavailable_.empty()},
          {"reason", !enabled               ? nlohmann::json("off (slice_reclaim_idle is 0)")
                     : unavailable_.empty() ? nlohmann::json(nullptr)
                                            : nlohmann::json(unavailable_)},
          {"idle_after_seconds", idle_after_.count()},
          {"reclaims", reclaims_},
          {"reclaimed_bytes", reclaimed_bytes_}};
}

}  // namespace crm::monitor
