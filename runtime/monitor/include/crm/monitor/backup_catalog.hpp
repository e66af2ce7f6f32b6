// The newest backup of a pgBackRest stanza, for the monitor's backup_stale check: `pgbackrest
// --output=json info` run with a time limit (docs/operations.md, "Monitoring").
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "crm/monitor/checks.hpp"

namespace crm::monitor {

/// The stop time of the newest backup `pgbackrest --output=json info` lists for `stanza`, or
/// nullopt when the stanza has none yet. Throws RuntimeError when `info_json` is not that
/// output, the stanza is not in it, or pgBackRest reports the stanza unreadable (its status code
/// other than "ok" and "no valid backups"), quoting pgBackRest's message.
std::optional<TimePoint> NewestBackupIn(const std::string& info_json, const std::string& stanza);

/// Where backups are listed: an interface so the monitor's decision is tested without pgBackRest.
class BackupCatalog {
 public:
  virtual ~BackupCatalog() = default;
  /// The newest backup's stop time; nullopt when there is none. Throws when it cannot be read.
  virtual std::optional<TimePoint> NewestBackup() = 0;
};

/// The real catalog: runs `pgbackrest [--config=C] --stanza=S --output=json info` as this
/// process's user (it must be able to read the repository's configuration) and gives it at most
/// `timeout`.
class PgBackRestCatalog : public BackupCatalog {
 public:
  /// `config` empty: pgBackRest's default configuration file.
  PgBackRestCatalog(std::string stanza, std::string config,
                    std::chrono::seconds timeout = std::chrono::seconds(60));
  /// Throws RuntimeError when pgbackrest is missing, fails, times out or prints no JSON.
  std::optional<TimePoint> NewestBackup() override;

 private:
  std::string stanza_;
  std::string config_;
  std::chrono::seconds timeout_;
};

}  // namespace crm::monitor
