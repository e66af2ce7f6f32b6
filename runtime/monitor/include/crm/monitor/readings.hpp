// What the monitor reads from the host: /proc (memory, swap-ins, CPU, load, each slice process's
// memory and CPU time) and the data directory's file system, behind an interface so the check
// logic is tested with fixed readings.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace crm::monitor {

/// The host at one moment. Counters (pswpin, CPU jiffies) are cumulative since boot: rates come
/// from the difference of two readings.
struct HostReading {
  std::uint64_t ram_total_bytes = 0;
  std::uint64_t ram_available_bytes = 0;
  std::uint64_t swap_total_bytes = 0;
  std::uint64_t swap_free_bytes = 0;
  std::uint64_t pswpin_pages = 0;      ///< /proc/vmstat pswpin
  std::uint64_t cpu_busy_jiffies = 0;  ///< every state but idle and iowait
  std::uint64_t cpu_total_jiffies = 0;
  double load1 = 0;
  std::uint64_t disk_total_bytes = 0;  ///< the file system holding the data directory
  std::uint64_t disk_used_bytes = 0;
};

/// One process's memory (from /proc/PID/smaps_rollup) and CPU time (utime + stime, in jiffies).
struct ProcessReading {
  std::uint64_t rss_bytes = 0;
  std::uint64_t pss_bytes = 0;
  std::uint64_t swap_bytes = 0;
  std::uint64_t cpu_jiffies = 0;
  pid_t parent_pid = 0;  ///< from /proc/PID/stat, 0 when unknown
  std::string command;   ///< the executable's name (stat's comm), "" when unknown
};

class HostProbe {
 public:
  virtual ~HostProbe() = default;
  /// Throws RuntimeError when /proc cannot be read.
  virtual HostReading Host() = 0;
  /// nullopt when the process is gone (or not ours to read).
  virtual std::optional<ProcessReading> Process(pid_t pid) = 0;
  /// Clock ticks per second (jiffies), for CPU percentages of a process.
  virtual long TicksPerSecond() = 0;
};

/// The real host: `proc_root` is /proc, `disk_path` the data directory (statvfs).
class ProcHostProbe final : public HostProbe {
 public:
  ProcHostProbe(std::filesystem::path proc_root, std::filesystem::path disk_path);
  HostReading Host() override;
  std::optional<ProcessReading> Process(pid_t pid) override;
  long TicksPerSecond() override;

 private:
  std::filesystem::path proc_root_;
  std::filesystem::path disk_path_;
};

// The parsers, exposed for their tests. Each fills what it finds and leaves the rest alone.
void ParseMeminfo(std::string_view text, HostReading& out);
void ParseVmstat(std::string_view text, HostReading& out);
/// The aggregate "cpu" line of /proc/stat.
void ParseProcStat(std::string_view text, HostReading& out);
void ParseSmapsRollup(std::string_view text, ProcessReading& out);
/// utime + stime of /proc/PID/stat (the command may contain spaces and parentheses).
std::optional<std::uint64_t> ParsePidStatCpu(std::string_view text);
/// The command (comm) and parent pid of /proc/PID/stat; false when the text is not one.
bool ParsePidStatIdentity(std::string_view text, ProcessReading& out);

}  // namespace crm::monitor
