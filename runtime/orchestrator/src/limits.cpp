#include "crm/orchestrator/limits.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "crm/error.hpp"

namespace crm::orchestrator {
namespace fs = std::filesystem;
namespace {

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool WriteFile(const fs::path& path, const std::string& value) {
  std::ofstream out(path);
  out << value;
  out.flush();
  return static_cast<bool>(out);
}

// The path of this process's group in hierarchy `controller` ("memory" for v1, "" for v2).
std::optional<std::string> OwnCgroup(const std::string& controller) {
  std::istringstream in(ReadFile("/proc/self/cgroup"));
  std::string line;
  while (std::getline(in, line)) {
    auto first = line.find(':');
    auto second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) {
      continue;
    }
    std::string controllers = line.substr(first + 1, second - first - 1);
    std::istringstream list(controllers);
    std::string c;
    bool match = controller.empty() && controllers.empty();
    while (!match && std::getline(list, c, ',')) {
      match = c == controller;
    }
    if (match) {
      return line.substr(second + 1);
    }
  }
  return std::nullopt;
}

// A group we can create children in and write the limit of.
bool Writable(const fs::path& parent, const std::string& limit_file) {
  std::error_code ec;
  fs::path probe = parent / ("crmd-probe-" + std::to_string(::getpid()));
  if (!fs::create_directories(probe, ec) || ec) {
    return false;
  }
  bool ok = fs::exists(probe / limit_file) && WriteFile(probe / limit_file, "1073741824");
  fs::remove(probe, ec);
  return ok;
}

// cgroup v1: the group slices are created under in the hierarchy mounted at `hierarchy` (our own
// group in `controller`, then crmd-slices), when it has `limit_file` and we may write it.
std::optional<fs::path> V1SliceParent(const fs::path& hierarchy, const std::string& controller,
                                      const std::string& limit_file) {
  std::error_code ec;
  if (!fs::exists(hierarchy / limit_file, ec)) {
    return std::nullopt;
  }
  auto own = OwnCgroup(controller);
  fs::path parent = hierarchy / fs::path(own.value_or("/")).relative_path() / "crmd-slices";
  if (!Writable(parent, limit_file)) {
    return std::nullopt;
  }
  return parent;
}

fs::path SliceGroup(const fs::path& parent, long long slice_id) {
  return parent / ("slice_" + std::to_string(slice_id));
}

}  // namespace

GroupJoin::~GroupJoin() {
  for (int fd : fds_) {
    ::close(fd);
  }
}

void GroupJoin::Add(const fs::path& procs) {
  if (std::find(paths_.begin(), paths_.end(), procs) != paths_.end()) {
    return;  // under cgroup v2 the memory and the CPU limit share one group
  }
  int fd = ::open(procs.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    throw RuntimeError("cannot open " + procs.string() + ": " + std::strerror(errno));
  }
  fds_.push_back(fd);
  paths_.push_back(procs);
}

bool GroupJoin::Join() const noexcept {
  // getpid() in decimal without allocating: between fork and exec only async-signal-safe calls.
  char digits[24];
  std::size_t n = 0;
  for (auto pid = static_cast<unsigned long>(::getpid()); pid != 0 || n == 0; pid /= 10) {
    digits[sizeof digits - 1 - n++] = static_cast<char>('0' + pid % 10);
  }
  const char* text = digits + sizeof digits - n;
  for (int fd : fds_) {
    if (::write(fd, text, n) != static_cast<ssize_t>(n)) {
      return false;
    }
  }
  return true;
}

MemoryLimiter MemoryLimiter::Detect(const fs::path& cgroup_root) {
  MemoryLimiter limiter;
  std::error_code ec;
  // cgroup v2: a unified hierarchy with the memory controller available to our group. Our own
  // process must leave the group first (no processes in a group that delegates controllers).
  if (fs::exists(cgroup_root / "cgroup.controllers", ec)) {
    auto own = OwnCgroup("");
    fs::path group = cgroup_root / fs::path(own.value_or("/")).relative_path();
    if (own && ReadFile(group / "cgroup.controllers").find("memory") != std::string::npos) {
      fs::path self_leaf = group / "crmd";
      fs::create_directories(self_leaf, ec);
      if (!ec && WriteFile(self_leaf / "cgroup.procs", std::to_string(::getpid())) &&
          WriteFile(group / "cgroup.subtree_control", "+memory")) {
        limiter.mechanism_ = LimitMechanism::kCgroupV2;
        limiter.parent_ = group;
        return limiter;
      }
    }
  }
  // cgroup v1: the memory hierarchy, under the group we were started in.
  if (auto parent = V1SliceParent(cgroup_root / "memory", "memory", "memory.limit_in_bytes")) {
    limiter.mechanism_ = LimitMechanism::kCgroupV1;
    limiter.parent_ = *parent;
    return limiter;
  }
  limiter.mechanism_ = LimitMechanism::kRlimit;
  return limiter;
}

std::string MemoryLimiter::name() const {
  switch (mechanism_) {
    case LimitMechanism::kCgroupV2:
      return "cgroup-v2";
    case LimitMechanism::kCgroupV1:
      return "cgroup-v1";
    case LimitMechanism::kRlimit:
      return "rlimit-as";
  }
  return "rlimit-as";
}

fs::path MemoryLimiter::SliceDir(long long slice_id) const {
  return SliceGroup(parent_, slice_id);
}

std::optional<fs::path> MemoryLimiter::GroupDir(long long slice_id) const {
  if (mechanism_ == LimitMechanism::kRlimit) {
    return std::nullopt;
  }
  return SliceDir(slice_id);
}

std::optional<fs::path> MemoryLimiter::Prepare(long long slice_id, std::uint64_t bytes) const {
  if (mechanism_ == LimitMechanism::kRlimit) {
    return std::nullopt;
  }
  fs::path dir = SliceDir(slice_id);
  std::error_code ec;
  fs::create_directories(dir, ec);
  const char* limit_file =
      mechanism_ == LimitMechanism::kCgroupV2 ? "memory.max" : "memory.limit_in_bytes";
  if (ec || !WriteFile(dir / limit_file, std::to_string(bytes))) {
    throw RuntimeError("cannot set the memory limit in " + (dir / limit_file).string());
  }
  // cgroup.procs under v1 too: it moves the whole process (v1's tasks takes one thread).
  return dir / "cgroup.procs";
}

void MemoryLimiter::Apply(long long slice_id, pid_t pid, std::uint64_t bytes) const {
  auto procs = Prepare(slice_id, bytes);
  if (procs && !WriteFile(*procs, std::to_string(pid))) {
    throw RuntimeError("cannot move process " + std::to_string(pid) + " into " +
                       procs->parent_path().string());
  }
}

void MemoryLimiter::ChildSetup(std::uint64_t bytes) const {
  if (mechanism_ != LimitMechanism::kRlimit) {
    return;
  }
  // Address space, not resident memory: thread stacks and shared libraries count, so the limit
  // gets 256 MiB on top of the slice's budget. Coarser than a cgroup, and reported as such.
  rlimit limit{};
  limit.rlim_cur = limit.rlim_max = bytes + (256ull << 20);
  ::setrlimit(RLIMIT_AS, &limit);
}

std::optional<std::uint64_t> MemoryLimiter::Usage(long long slice_id) const {
  if (mechanism_ == LimitMechanism::kRlimit) {
    return std::nullopt;
  }
  const char* file =
      mechanism_ == LimitMechanism::kCgroupV2 ? "memory.current" : "memory.usage_in_bytes";
  std::string text = ReadFile(SliceDir(slice_id) / file);
  if (text.empty()) {
    return std::nullopt;
  }
  return std::stoull(text);
}

namespace {
constexpr long long kCpuPeriodUs = 100'000;
long long QuotaUs(double cores) {
  return std::max(1'000LL, static_cast<long long>(cores * static_cast<double>(kCpuPeriodUs)));
}
}  // namespace

CpuLimiter CpuLimiter::Detect(const fs::path& cgroup_root) {
  CpuLimiter limiter;
  std::error_code ec;
  // cgroup v2: the cpu controller delegated to the group crmd's slices are created in (the
  // memory limiter has already moved crmd itself into a leaf of it).
  if (fs::exists(cgroup_root / "cgroup.controllers", ec)) {
    auto own = OwnCgroup("");
    fs::path group = cgroup_root / fs::path(own.value_or("/")).relative_path();
    if (group.filename() == "crmd") {
      group = group.parent_path();
    }
    std::string controllers = ReadFile(group / "cgroup.controllers");
    if (own && controllers.find("cpu") != std::string::npos &&
        WriteFile(group / "cgroup.subtree_control", "+cpu")) {
      limiter.mechanism_ = Mechanism::kCgroupV2;
      limiter.parent_ = group;
      return limiter;
    }
  }
  for (const char* hierarchy : {"cpu", "cpu,cpuacct"}) {
    if (auto parent = V1SliceParent(cgroup_root / hierarchy, "cpu", "cpu.cfs_quota_us")) {
      limiter.mechanism_ = Mechanism::kCgroupV1;
      limiter.parent_ = *parent;
      return limiter;
    }
  }
  return limiter;
}

std::string CpuLimiter::name() const {
  switch (mechanism_) {
    case Mechanism::kCgroupV2:
      return "cgroup-v2";
    case Mechanism::kCgroupV1:
      return "cgroup-v1";
    case Mechanism::kUnavailable:
      return "unavailable";
  }
  return "unavailable";
}

std::string CpuLimiter::CpuMax(double cores) {
  return std::to_string(QuotaUs(cores)) + " " + std::to_string(kCpuPeriodUs);
}

fs::path CpuLimiter::SliceDir(long long slice_id) const {
  return SliceGroup(parent_, slice_id);
}

std::optional<fs::path> CpuLimiter::Prepare(long long slice_id, double cores) const {
  if (mechanism_ == Mechanism::kUnavailable || cores <= 0) {
    return std::nullopt;
  }
  fs::path dir = SliceDir(slice_id);
  std::error_code ec;
  fs::create_directories(dir, ec);
  bool ok = !ec;
  if (mechanism_ == Mechanism::kCgroupV2) {
    ok = ok && WriteFile(dir / "cpu.max", CpuMax(cores));
  } else {
    ok = ok && WriteFile(dir / "cpu.cfs_period_us", std::to_string(kCpuPeriodUs)) &&
         WriteFile(dir / "cpu.cfs_quota_us", std::to_string(QuotaUs(cores)));
  }
  if (!ok) {
    throw RuntimeError("cannot set the CPU limit in " + dir.string());
  }
  return dir / "cgroup.procs";
}

void CpuLimiter::Apply(long long slice_id, pid_t pid, double cores) const {
  auto procs = Prepare(slice_id, cores);
  if (procs && !WriteFile(*procs, std::to_string(pid))) {
    throw RuntimeError("cannot set the CPU limit of process " + std::to_string(pid) + " in " +
                       procs->parent_path().string());
  }
}

void CpuLimiter::Release(long long slice_id) const {
  if (mechanism_ != Mechanism::kCgroupV1) {
    return;
  }
  std::error_code ec;
  fs::remove(SliceDir(slice_id), ec);
}

void MemoryLimiter::Release(long long slice_id) const {
  if (mechanism_ == LimitMechanism::kRlimit) {
    return;
  }
  std::error_code ec;
  fs::remove(SliceDir(slice_id), ec);  // rmdir: a cgroup directory is removed empty
}

}  // namespace crm::orchestrator
