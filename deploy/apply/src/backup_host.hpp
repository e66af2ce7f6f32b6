// The machine holding a deployment's PostgreSQL primary as backups and restores reach it
// (private to crm_apply): this machine for the local target, an inventory host over ssh for the
// ssh target. pgbackrest and psql run through it, so listing backups, taking one, choosing the
// one to restore, waiting for recovery and the steps of a one-tenant restore are one code path
// for both (docs/operations.md, "Backups").
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
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

// --- one tenant ---------------------------------------------------------------------------------

/// The database crmd's gateway and slices live in, as the renderings create it.
inline constexpr const char* kCrmDatabase = "crm";

/// An account's live slice as gateway.slices records it.
struct TenantSlice {
  long long id = 0;
  std::string state;
  /// slice_<id>: the slice's schema and the role that owns it.
  std::string Role() const;
  /// Whether its process may run (assigned or available): it is suspended while its schema is
  /// replaced, then resumed.
  bool Runs() const;
};

/// The live slice of the account `email`. `query` answers one SQL statement on kCrmDatabase as
/// psql -At does (RuntimeError when it cannot). Throws InputError (field tenant) when the account
/// has no live slice.
TenantSlice FindSlice(const std::function<std::string(const std::string& sql)>& query,
                      const std::string& email);

/// A cluster recovered from the stanza beside the live one on the database host, to dump one
/// tenant's schema from; the implementation stops and removes it when it goes.
class ScratchCluster {
 public:
  virtual ~ScratchCluster() = default;
  /// Its data directory on the database host, empty until pgbackrest restores into it.
  virtual std::string Data() const = 0;
  /// Where it listens, for the operator ("port 54321", "socket in /var/lib/…").
  virtual std::string Where() const = 0;
  /// Starts it on the restored data directory with ScratchServerOptions (RuntimeError with its
  /// log when it does not start).
  virtual void Start() = 0;
  /// psql's -At answer to `SELECT pg_is_in_recovery()` there.
  virtual tools::ToolResult InRecovery() = 0;
  /// `pg_dump -n schema` of kCrmDatabase there into a file on the database host; its path and
  /// size in bytes. RuntimeError when pg_dump fails.
  virtual std::pair<std::string, std::uint64_t> DumpSchema(const std::string& schema) = 0;
};

/// pg_ctl -o's options for a scratch cluster: its own socket in `socket_dir`, no TCP listener and
/// no archiving (it must never write into the live stanza).
std::string ScratchServerOptions(int port, const std::string& socket_dir);

/// Restores `backup` from `host`'s repository into `scratch`, recovers it to `time` (or the end
/// of the backup), and dumps `slice`'s schema from it, printing each step; returns the dump's
/// path on the database host. Nothing live is touched. Throws RuntimeError when a tool fails.
std::string DumpAsOf(DatabaseHost& host, ScratchCluster& scratch, const BackupInfo& backup,
                     const std::optional<RecoveryTime>& time, const TenantSlice& slice,
                     Console console);

/// psql's script (run with --single-transaction and ON_ERROR_STOP) that replaces `slice`'s live
/// schema by the dump at `dump` (a path psql reads): ends the role's sessions, drops the schema
/// with what depends on it and reads the dump.
std::string ReplaceSchemaSql(const TenantSlice& slice, const std::string& dump);

/// What a one-tenant restore's plan says beyond the slice and the backup.
struct TenantPlan {
  std::string deployment;  ///< "the local deployment in DIR", "the ssh deployment in DIR"
  std::string point;       ///< the recovery target as printed
  std::string scratch;     ///< where the temporary cluster runs
  std::string files;       ///< the plan's line for the slice's files
};

/// Prints the plan of restoring `email`'s `slice` from `backup`.
void PrintTenantPlan(const std::string& email, const TenantSlice& slice, const BackupInfo& backup,
                     const TenantPlan& plan);

/// The closing line of a backup `newest` begun at `started` (nothing when quiet).
void PrintBackupTaken(const BackupInfo& newest, std::chrono::steady_clock::time_point started,
                      Console console);

/// The closing line of a one-tenant restore begun at `started` (nothing when quiet).
void PrintTenantRestored(const std::string& email, std::chrono::steady_clock::time_point started,
                         const std::string& point, Console console);

/// Holds `slice` suspended through `slices` (when it runs) while `replace` swaps its live data,
/// then resumes it, printing each step. When `replace` throws the slice stays suspended: the
/// RuntimeError says so and how to resume it.
void ReplaceWhileSuspended(const TenantSlice& slice, const AdminAccess& admin,
                           const SliceControl& slices, Console console,
                           const std::function<void()>& replace);

}  // namespace crm::apply::backup
