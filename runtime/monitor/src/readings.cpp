#include "crm/monitor/readings.hpp"

#include <sys/statvfs.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "crm/error.hpp"

namespace crm::monitor {
namespace {

std::optional<std::string> ReadText(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) {
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Calls `each(key, first number)` for "Key:   123 kB" or "key 123" lines.
template <class F>
void ForEachKeyNumber(std::string_view text, F each) {
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key;
    unsigned long long value = 0;
    if (!(fields >> key >> value)) {
      continue;
    }
    if (!key.empty() && key.back() == ':') {
      key.pop_back();
    }
    each(key, static_cast<std::uint64_t>(value));
  }
}

}  // namespace

void ParseMeminfo(std::string_view text, HostReading& out) {
  ForEachKeyNumber(text, [&](const std::string& key, std::uint64_t kib) {
    if (key == "MemTotal") {
      out.ram_total_bytes = kib * 1024;
    } else if (key == "MemAvailable") {
      out.ram_available_bytes = kib * 1024;
    } else if (key == "SwapTotal") {
      out.swap_total_bytes = kib * 1024;
    } else if (key == "SwapFree") {
      out.swap_free_bytes = kib * 1024;
    }
  });
}

void ParseVmstat(std::string_view text, HostReading& out) {
  ForEachKeyNumber(text, [&](const std::string& key, std::uint64_t value) {
    if (key == "pswpin") {
      out.pswpin_pages = value;
    }
  });
}

void ParseProcStat(std::string_view text, HostReading& out) {
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("cpu ", 0) != 0) {
      continue;
    }
    std::istringstream fields(line.substr(4));
    std::vector<std::uint64_t> v;
    unsigned long long n = 0;
    while (fields >> n) {
      v.push_back(n);
    }
    // user nice system idle iowait irq softirq steal [guest guest_nice: already in user/nice]
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < v.size() && i < 8; ++i) {
      total += v[i];
    }
    std::uint64_t idle = (v.size() > 3 ? v[3] : 0) + (v.size() > 4 ? v[4] : 0);
    out.cpu_total_jiffies = total;
    out.cpu_busy_jiffies = total - idle;
    return;
  }
}

void ParseSmapsRollup(std::string_view text, ProcessReading& out) {
  ForEachKeyNumber(text, [&](const std::string& key, std::uint64_t kib) {
    if (key == "Rss") {
      out.rss_bytes = kib * 1024;
    } else if (key == "Pss") {
      out.pss_bytes = kib * 1024;
    } else if (key == "Swap") {
      out.swap_bytes = kib * 1024;
    }
  });
}

std::optional<std::uint64_t> ParsePidStatCpu(std::string_view text) {
  // "PID (comm) S ppid …": fields after the last ')' start with the state (field 3); utime and
  // stime are fields 14 and 15.
  auto close = text.rfind(')');
  if (close == std::string_view::npos) {
    return std::nullopt;
  }
  std::istringstream fields{std::string(text.substr(close + 1))};
  std::string field;
  std::uint64_t utime = 0;
  for (int i = 3; fields >> field; ++i) {
    if (i == 14 || i == 15) {
      if (field.find_first_not_of("0123456789") != std::string::npos) {
        return std::nullopt;
      }
      if (i == 14) {
        utime = std::stoull(field);
      } else {
        return utime + std::stoull(field);
      }
    }
  }
  return std::nullopt;
}

bool ParsePidStatIdentity(std::string_view text, ProcessReading& out) {
  // The command sits between the first '(' and the last ')' (it may hold both); the state and
  // the parent pid follow.
  auto open = text.find('(');
  auto close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return false;
  }
  std::istringstream fields{std::string(text.substr(close + 1))};
  std::string state;
  long long ppid = 0;
  if (!(fields >> state >> ppid) || ppid < 0) {
    return false;
  }
  out.command = std::string(text.substr(open + 1, close - open - 1));
  out.parent_pid = static_cast<pid_t>(ppid);
  return true;
}

ProcHostProbe::ProcHostProbe(std::filesystem::path proc_root, std::filesystem::path disk_path)
    : proc_root_(std::move(proc_root)), disk_path_(std::move(disk_path)) {}

HostReading ProcHostProbe::Host() {
  HostReading r;
  auto meminfo = ReadText(proc_root_ / "meminfo");
  auto stat = ReadText(proc_root_ / "stat");
  if (!meminfo || !stat) {
    throw RuntimeError("cannot read " + (proc_root_ / "meminfo").string() + " or stat");
  }
  ParseMeminfo(*meminfo, r);
  ParseProcStat(*stat, r);
  if (auto vmstat = ReadText(proc_root_ / "vmstat")) {
    ParseVmstat(*vmstat, r);
  }
  if (auto load = ReadText(proc_root_ / "loadavg")) {
    std::istringstream(*load) >> r.load1;
  }
  struct statvfs fs {};
  if (::statvfs(disk_path_.c_str(), &fs) == 0) {
    r.disk_total_bytes = static_cast<std::uint64_t>(fs.f_blocks) * fs.f_frsize;
    r.disk_used_bytes = static_cast<std::uint64_t>(fs.f_blocks - fs.f_bfree) *
                        static_cast<std::uint64_t>(fs.f_frsize);
  }
  return r;
}

std::optional<ProcessReading> ProcHostProbe::Process(pid_t pid) {
  std::filesystem::path dir = proc_root_ / std::to_string(pid);
  auto stat = ReadText(dir / "stat");
  if (!stat) {
    return std::nullopt;
  }
  ProcessReading r;
  if (auto cpu = ParsePidStatCpu(*stat)) {
    r.cpu_jiffies = *cpu;
  }
  ParsePidStatIdentity(*stat, r);
  if (auto smaps = ReadText(dir / "smaps_rollup")) {
    ParseSmapsRollup(*smaps, r);
  }
  return r;
}

long ProcHostProbe::TicksPerSecond() {
  long ticks = ::sysconf(_SC_CLK_TCK);
  return ticks > 0 ? ticks : 100;
}

}  // namespace crm::monitor
