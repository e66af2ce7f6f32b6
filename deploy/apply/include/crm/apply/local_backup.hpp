// Backups of a local deployment (docs/operations.md, "Backups"): pgBackRest with WAL archiving
// into an encrypted repository outside the deployment directory, a tar of the deployment's files
// per backup, and restores of the whole deployment or of one tenant to a point in time.
#pragma once

#include <cstdint>
#include <ctime>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "crm/apply/target.hpp"

namespace crm::apply {

/// Where a local deployment's backups live: given, else the one state.json records, else the
/// directory beside the deployment, `<dir>.backups` (outside it, so `destroy --purge` keeps it).
struct BackupTarget {
  std::string dir;   ///< --dir, the deployment directory
  std::string repo;  ///< --backup-repo; empty: recorded, else `<dir>.backups`
};

/// One backup as pgBackRest records it, with the deployment files' archive beside it.
struct BackupInfo {
  std::string label;              ///< pgBackRest's label, e.g. 20261130-084512F
  std::string type;               ///< full, diff or incr
  std::uint64_t size_bytes = 0;   ///< the database's size at the backup
  std::uint64_t repo_bytes = 0;   ///< what this backup added to the repository (compressed)
  std::uint64_t files_bytes = 0;  ///< the files' archive (0 when missing)
  std::time_t start = 0;          ///< seconds since the epoch
  std::time_t stop = 0;
  std::string files_archive;  ///< its path, "" when missing
};

/// The backups of the deployment, oldest first. Throws InputError when the repository has no
/// configuration (nothing applied with backups), RuntimeError when pgBackRest fails.
std::vector<BackupInfo> ListBackups(const BackupTarget& target);

/// Takes a backup now (`type` full, diff or incr; PostgreSQL must run), then archives the
/// deployment's files under its label and drops the archives of backups retention expired.
/// Prints every step unless `console.quiet`. Throws InputError for a bad type or a deployment
/// that is not running, RuntimeError when a tool fails.
BackupInfo TakeBackup(const BackupTarget& target, const std::string& type, Console console);

/// Stops and starts one tenant's slice through the admin API while its schema is replaced.
struct SliceControl {
  std::function<void(const AdminAccess&, long long slice_id)> suspend;
  std::function<void(const AdminAccess&, long long slice_id)> resume;
  /// Reads the slice through the admin API, so a wrong URL or credential is refused before
  /// anything changes; may be empty (not checked).
  std::function<void(const AdminAccess&, long long slice_id)> check;
};

struct RestoreRequest {
  BackupTarget target;
  std::string time;       ///< "YYYY-MM-DD HH:MM:SS[.ffffff]+HH[:MM]" or with Z; or empty
  std::string backup_id;  ///< a label; or empty (exactly one of time and backup_id)
  std::string tenant;     ///< an account's e-mail: restore only its slice; empty: everything
  bool auto_approve = false;
  bool dry_run = false;
};

/// Restores the whole deployment (`tenant` empty) or one tenant's schema and files to the point
/// asked for, after printing the plan and getting approval as apply does (InputError when
/// refused). Whole: stops crmd and PostgreSQL, moves pg/data and data/ aside, restores and
/// recovers, restores data/, starts both and checks /health. A purged directory is rebuilt
/// from the backup's files. One tenant: recovers a temporary cluster on another port, dumps the
/// tenant's schema from it and replaces the live schema and files while `slices` holds the slice
/// suspended; other tenants are untouched.
void Restore(const RestoreRequest& request, Console console, const SliceControl& slices);

/// "2026-11-30 08:50:00.123+01" (or with T, Z, +01:00) as seconds since the epoch, and in the
/// form PostgreSQL's recovery_target_time takes. Throws InputError naming --time.
struct RecoveryTime {
  double epoch = 0;
  std::string text;
};
RecoveryTime ParseRecoveryTime(const std::string& text);

}  // namespace crm::apply
