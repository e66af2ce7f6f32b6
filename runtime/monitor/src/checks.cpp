#include "crm/monitor/checks.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <algorithm>
#include <cmath>

namespace crm::monitor {
namespace {

double Percent(std::uint64_t part, std::uint64_t whole) {
  return whole == 0 ? 0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

std::string Mib(std::uint64_t bytes) {
  return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / 1048576.0);
}

}  // namespace

std::string ToString(Severity severity) {
  return severity == Severity::kCritical ? "critical" : "warning";
}

std::string SliceSubject(long long slice_id) {
  return "slice:" + std::to_string(slice_id);
}

std::vector<Condition> ProcessCheck::Evaluate(const std::vector<SliceObservation>& slices) {
  std::vector<Condition> out;
  std::map<long long, int> seen;
  for (const auto& s : slices) {
    seen[s.id] = s.restarts;
    if (!s.should_run) {
      continue;
    }
    auto before = restarts_.find(s.id);
    bool restarted = before != restarts_.end() && s.restarts > before->second;
    std::string why;
    if (s.health == "crashloop") {
      why = "is crash-looping";
    } else if (!s.process_alive) {
      why = "has no running process";
    } else if (s.health == "restarting" || s.health == "stopped") {
      why = "is " + s.health;
    } else if (restarted) {
      why = fmt::format("exited and was restarted ({} restarts since the last check)",
                        s.restarts - before->second);
    }
    if (!why.empty()) {
      out.push_back({SliceSubject(s.id), "slice_down", Severity::kCritical,
                     fmt::format("slice {} {}", s.id, why)});
    }
  }
  restarts_ = std::move(seen);
  return out;
}

std::optional<Condition> WhatsAppCheck::Observe(long long slice_id,
                                                const std::optional<std::string>& state,
                                                TimePoint now, std::chrono::seconds grace,
                                                const std::string& detail) {
  Track& t = tracks_[slice_id];
  if (state && *state == "connected") {
    t.seen_connected = true;
    t.down_since.reset();
    return std::nullopt;
  }
  const bool terminal = state && (*state == "failed" || *state == "banned");
  if (!t.seen_connected && !terminal) {
    return std::nullopt;
  }
  if (!t.down_since) {
    t.down_since = now;
  }
  auto down = std::chrono::duration_cast<std::chrono::seconds>(now - *t.down_since);
  if (down < grace && !terminal) {
    return std::nullopt;
  }
  return Condition{SliceSubject(slice_id), "whatsapp_disconnected", Severity::kCritical,
                   fmt::format("slice {}: WhatsApp {} for {} s{}", slice_id,
                               state ? "is " + *state : "state unknown (no answer)", down.count(),
                               detail.empty() ? "" : ": " + detail.substr(0, 300))};
}

void WhatsAppCheck::Retain(const std::vector<long long>& live) {
  std::erase_if(tracks_, [&](const auto& entry) {
    return std::find(live.begin(), live.end(), entry.first) == live.end();
  });
}

bool WhatsAppCheck::SeenConnected(long long slice_id) const {
  auto it = tracks_.find(slice_id);
  return it != tracks_.end() && it->second.seen_connected;
}

std::optional<Condition> MemoryCondition(const SliceObservation& s, const Thresholds& t) {
  if (!s.memory_bytes || s.memory_limit_bytes == 0) {
    return std::nullopt;
  }
  double used = Percent(*s.memory_bytes, s.memory_limit_bytes);
  if (used <= t.slice_memory_percent) {
    return std::nullopt;
  }
  return Condition{SliceSubject(s.id), "slice_memory", Severity::kWarning,
                   fmt::format("slice {} uses {} of its {} memory limit ({:.0f} %)", s.id,
                               Mib(*s.memory_bytes), Mib(s.memory_limit_bytes), used)};
}

std::optional<Condition> StorageCondition(const SliceObservation& s, const Thresholds& t) {
  if (s.storage_quota_bytes == 0) {
    return std::nullopt;
  }
  double used = Percent(s.storage_bytes, s.storage_quota_bytes);
  if (used <= t.slice_storage_percent) {
    return std::nullopt;
  }
  return Condition{SliceSubject(s.id), "slice_storage",
                   used >= 100 ? Severity::kCritical : Severity::kWarning,
                   fmt::format("slice {} stores {} of its {} quota ({:.0f} %)", s.id,
                               Mib(s.storage_bytes), Mib(s.storage_quota_bytes), used)};
}

HostRates RatesBetween(const HostReading& before, const HostReading& after,
                       std::chrono::duration<double> elapsed) {
  HostRates r;
  if (after.cpu_total_jiffies > before.cpu_total_jiffies &&
      after.cpu_busy_jiffies >= before.cpu_busy_jiffies) {
    r.cpu_percent = Percent(after.cpu_busy_jiffies - before.cpu_busy_jiffies,
                            after.cpu_total_jiffies - before.cpu_total_jiffies);
  }
  if (elapsed.count() > 0 && after.pswpin_pages >= before.pswpin_pages) {
    r.swapin_pages_per_s =
        static_cast<double>(after.pswpin_pages - before.pswpin_pages) / elapsed.count();
  }
  return r;
}

bool Sustained::Update(bool holds, TimePoint now, std::chrono::seconds window) {
  if (!holds) {
    since_.reset();
    return false;
  }
  if (!since_) {
    since_ = now;
  }
  return now - *since_ >= window;
}

std::vector<Condition> ServerCheck::Evaluate(const HostReading& r,
                                             const std::optional<HostRates>& rates, TimePoint now,
                                             const Thresholds& t) {
  std::vector<Condition> out;
  double disk = Percent(r.disk_used_bytes, r.disk_total_bytes);
  if (disk > t.disk_percent) {
    out.push_back({"server", "server_disk", disk >= 95 ? Severity::kCritical : Severity::kWarning,
                   fmt::format("disk {:.0f} % full ({} of {})", disk, Mib(r.disk_used_bytes),
                               Mib(r.disk_total_bytes))});
  }
  std::uint64_t ram_used =
      r.ram_total_bytes > r.ram_available_bytes ? r.ram_total_bytes - r.ram_available_bytes : 0;
  double ram = Percent(ram_used, r.ram_total_bytes);
  if (ram > t.ram_percent) {
    out.push_back(
        {"server", "server_ram", Severity::kCritical,
         fmt::format("RAM {:.0f} % used ({} of {})", ram, Mib(ram_used), Mib(r.ram_total_bytes))});
  }
  if (rates) {
    auto minutes = std::chrono::duration_cast<std::chrono::minutes>(t.sustain).count();
    if (cpu_.Update(rates->cpu_percent > t.cpu_percent, now, t.sustain)) {
      out.push_back({"server", "server_cpu", Severity::kWarning,
                     fmt::format("CPU {:.0f} % busy, above {:.0f} % for {} min or more",
                                 rates->cpu_percent, t.cpu_percent, minutes)});
    }
    if (swapin_.Update(rates->swapin_pages_per_s > t.swapin_pages_per_s, now, t.sustain)) {
      out.push_back({"server", "server_swapin", Severity::kCritical,
                     fmt::format("swapping in {:.0f} pages/s, above {:.0f} for {} min or more: "
                                 "the host is thrashing",
                                 rates->swapin_pages_per_s, t.swapin_pages_per_s, minutes)});
    }
  }
  return out;
}

std::optional<Condition> BackupStaleCondition(const BackupObservation& b, TimePoint now,
                                              const Thresholds& t) {
  std::vector<std::string> why;
  if (b.archive_mode_on && b.last_failed &&
      (!b.last_archived || *b.last_failed > *b.last_archived)) {
    why.push_back(fmt::format(
        "WAL archiving fails (segment {} at {:%Y-%m-%d %H:%M:%S} UTC{})",
        b.last_failed_wal.empty() ? "?" : b.last_failed_wal, *b.last_failed,
        b.last_archived ? fmt::format("; last success {:%Y-%m-%d %H:%M:%S}", *b.last_archived)
                        : std::string("; never succeeded")));
  }
  if (b.stanza_configured) {
    if (!b.info_error.empty()) {
      why.push_back("the backup repository cannot be read: " + b.info_error);
    } else if (!b.newest_backup) {
      why.push_back("the backup repository holds no backup");
    } else if (now - *b.newest_backup > t.backup_max_age) {
      auto hours = [](std::chrono::seconds s) { return static_cast<double>(s.count()) / 3600.0; };
      why.push_back(fmt::format(
          "the newest backup is {:.1f} h old (at most {:.0f} h allowed)",
          hours(std::chrono::duration_cast<std::chrono::seconds>(now - *b.newest_backup)),
          hours(t.backup_max_age)));
    }
  }
  if (why.empty()) {
    return std::nullopt;
  }
  return Condition{"server", "backup_stale", Severity::kCritical,
                   fmt::format("{}", fmt::join(why, "; "))};
}

std::string GridColour(const SliceObservation& s, bool open_critical, bool open_warning) {
  bool down = s.should_run && (!s.process_alive || s.health == "crashloop");
  if (down || open_critical) {
    return "red";
  }
  bool memory_high = s.memory_bytes && s.memory_limit_bytes > 0 &&
                     Percent(*s.memory_bytes, s.memory_limit_bytes) > 80;
  if (open_warning || memory_high || s.health == "restarting") {
    return "yellow";
  }
  return "green";
}

}  // namespace crm::monitor
