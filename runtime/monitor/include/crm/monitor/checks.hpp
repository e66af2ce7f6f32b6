// The monitor's checks as pure logic (docs/operations.md, "Monitoring"): given what was observed,
// which conditions hold. The monitor feeds them readings; the alert log turns holding conditions
// into open alerts and the others into resolved ones.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "crm/monitor/readings.hpp"

namespace crm::monitor {

using TimePoint = std::chrono::sys_seconds;

enum class Severity { kWarning, kCritical };
/// "warning" or "critical".
std::string ToString(Severity severity);

/// A condition that holds now: an alert (subject, kind) should be open.
struct Condition {
  std::string subject;  ///< "slice:7" or "server"
  std::string kind;     ///< slice_down, whatsapp_disconnected, server_cpu, …
  Severity severity = Severity::kWarning;
  std::string message;
};

struct Thresholds {
  double slice_memory_percent = 90;
  double slice_storage_percent = 90;
  double disk_percent = 85;
  double ram_percent = 90;
  double cpu_percent = 90;
  double swapin_pages_per_s = 1000;
  /// CPU and swap-ins must stay above their threshold this long.
  std::chrono::seconds sustain{300};
  /// A slice's WhatsApp must stay disconnected this long.
  std::chrono::seconds whatsapp_grace{120};
  /// The newest backup may be this old: a day's schedule plus the time a backup takes.
  std::chrono::seconds backup_max_age{26 * 3600};
};

/// A slice as the checks see it.
struct SliceObservation {
  long long id = 0;
  bool should_run = false;  ///< available or assigned
  bool assigned = false;    ///< a tenant's (WhatsApp matters only then)
  std::string health;       ///< the orchestrator's: healthy, restarting, crashloop, stopped
  int restarts = 0;
  bool process_alive = false;
  std::optional<std::uint64_t> memory_bytes;
  std::uint64_t memory_limit_bytes = 0;
  std::uint64_t storage_bytes = 0;
  std::uint64_t storage_quota_bytes = 0;
};

std::string SliceSubject(long long slice_id);

/// slice_down: a slice that should run has no live process, is restarting or crash-looping, or
/// restarted since the previous look (a crash the supervisor healed in between still counts
/// once). Remembers restart counts between calls.
class ProcessCheck {
 public:
  std::vector<Condition> Evaluate(const std::vector<SliceObservation>& slices);

 private:
  std::map<long long, int> restarts_;
};

/// whatsapp_disconnected: an assigned slice whose channel, once seen connected, has not been
/// connected for `grace`. A slice never connected (not paired yet) raises nothing, except a
/// channel that reports `failed` or `banned` (wa-web, docs/wa-web.md): nothing reconnects those,
/// so they raise at once.
class WhatsAppCheck {
 public:
  /// `state` nullopt: the slice did not answer (slice_unresponsive covers it; the clock of the
  /// disconnection keeps running). `detail`: the channel's reason, quoted in the condition.
  std::optional<Condition> Observe(long long slice_id, const std::optional<std::string>& state,
                                   TimePoint now, std::chrono::seconds grace,
                                   const std::string& detail = {});
  /// Forgets slices not in `live` (destroyed, suspended).
  void Retain(const std::vector<long long>& live);
  /// Whether the slice's channel was ever seen connected (it has been paired).
  bool SeenConnected(long long slice_id) const;

 private:
  struct Track {
    bool seen_connected = false;
    std::optional<TimePoint> down_since;
  };
  std::map<long long, Track> tracks_;
};

/// slice_memory: memory above the threshold's share of the limit (when the mechanism measures it).
std::optional<Condition> MemoryCondition(const SliceObservation& slice, const Thresholds& t);
/// slice_storage: storage above the threshold's share of the quota.
std::optional<Condition> StorageCondition(const SliceObservation& slice, const Thresholds& t);

/// Rates between two host readings.
struct HostRates {
  double cpu_percent = 0;
  double swapin_pages_per_s = 0;
};
HostRates RatesBetween(const HostReading& before, const HostReading& after,
                       std::chrono::duration<double> elapsed);

/// A condition that counts once it held at every sample for a window.
class Sustained {
 public:
  /// Records whether it holds at `now`; true once it has held since at least `window` ago.
  bool Update(bool holds, TimePoint now, std::chrono::seconds window);

 private:
  std::optional<TimePoint> since_;
};

/// server_disk, server_ram (instant), server_cpu and server_swapin (sustained).
class ServerCheck {
 public:
  std::vector<Condition> Evaluate(const HostReading& reading, const std::optional<HostRates>& rates,
                                  TimePoint now, const Thresholds& t);

 private:
  Sustained cpu_;
  Sustained swapin_;
};

/// What the monitor knows of the database's backups: pg_stat_archiver and, where a pgBackRest
/// stanza is configured, the newest backup `pgbackrest info` lists.
struct BackupObservation {
  bool archive_mode_on = false;
  std::optional<TimePoint> last_archived;  ///< pg_stat_archiver.last_archived_time
  std::optional<TimePoint> last_failed;    ///< pg_stat_archiver.last_failed_time
  std::string last_failed_wal;
  bool stanza_configured = false;
  std::optional<TimePoint> newest_backup;  ///< the newest backup's stop time; nullopt: none
  std::string info_error;                  ///< `pgbackrest info` failed: why
};

/// backup_stale (critical, subject "server"): WAL archiving fails (the last failure is newer than
/// the last success), or, with a stanza configured, its newest backup is older than
/// `t.backup_max_age`, there is none, or its repository cannot be read. Nothing when neither
/// archiving nor a stanza is configured.
std::optional<Condition> BackupStaleCondition(const BackupObservation& b, TimePoint now,
                                              const Thresholds& t);

/// The admin grid's colour of a slice: "red", "yellow" or "green" (docs/api.md,
/// "GET /admin/slices").
std::string GridColour(const SliceObservation& slice, bool open_critical, bool open_warning);

}  // namespace crm::monitor
