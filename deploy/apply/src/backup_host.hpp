// The machine holding a deployment's PostgreSQL primary as backups and restores reach it
// (private to crm_apply): this machine for the local target, an inventory host over ssh for the
// ssh target. pgbackrest and psql run through it, so listing backups, taking one, choosing the
// one to restore and waiting for recovery are one code path for both (docs/operations.md,
// "Backups").
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "crm/apply/local_backup.hpp"
#include "crm/apply/target.hpp"
#include "crm/tools/tool_runner.hpp"

namespace crm::apply::backup {

class DatabaseHost {
 public:
  virtual ~DatabaseHost() = default;
  /// `pgbackrest --stanza=… ARGS` as the postgres user there, with that host's configuration.
  virtual tools::ToolResult PgBackRest(const std::vector<std::string>& args,
                                       std::chrono::seconds timeout) = 0;
  /// Where pgBackRest's logs are, for error messages.
  virtual std::string LogHint() const = 0;
};

/// Runs `host.PgBackRest` and throws RuntimeError naming `what`, pgbackrest's exit and output
/// unless it exits 0; returns its output.
std::string PgBackRestOrThrow(DatabaseHost& host, const std::vector<std::string>& args,
                              std::chrono::seconds timeout, const std::string& what);

/// The stanza's backups from `pgbackrest info --output=json`, oldest first, without files
/// archives. Throws RuntimeError when pgbackrest fails or does not answer JSON.
std::vector<BackupInfo> ReadBackups(DatabaseHost& host);

/// The backup a restore starts from: the one `backup_id` names, or the newest that finished
/// before `time`. `list` is the command that lists them, for messages. Throws InputError (field
/// backup or time) when there is none.
const BackupInfo& ChooseBackup(const std::vector<BackupInfo>& backups, const std::string& backup_id,
                               const std::optional<RecoveryTime>& time, const std::string& list);

/// pgbackrest restore's options that recover to `time` (or to the end of `backup`) and promote.
std::vector<std::string> RecoveryArgs(const BackupInfo& backup,
                                      const std::optional<RecoveryTime>& time);

/// `pgbackrest check`: closes the WAL segment in progress and waits until it is in the
/// repository, so a point in time up to now can be reached.
void ArchiveCurrentWal(DatabaseHost& host, Console console);

/// Asks `in_recovery` (psql's answer to `SELECT pg_is_in_recovery()`) until it answers "f" or
/// `limit` passes (RuntimeError with its last answer).
void AwaitPromoted(const std::function<tools::ToolResult()>& in_recovery,
                   std::chrono::seconds limit);

/// "2026-11-30 08:45:12+00".
std::string Utc(std::time_t t);

}  // namespace crm::apply::backup
