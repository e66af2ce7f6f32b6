// crmctl backup and restore of a deployment applied with --target ssh: pgBackRest on the
// inventory host that holds the PostgreSQL primary, reached over the same ssh connections apply
// uses, with crmd's hosts stopped and started around a restore (docs/operations.md, "Backups").
#pragma once

#include <string>
#include <vector>

#include "crm/apply/local_backup.hpp"
#include "crm/apply/ssh_target.hpp"
#include "crm/apply/state.hpp"
#include "crm/apply/target.hpp"

namespace crm::apply {

/// The hosts of a recorded ssh deployment a backup or restore touches.
struct SshBackupHosts {
  std::string database;               ///< given pgBackRest's configuration, not the replica
  std::vector<std::string> crmd;      ///< running crmd, stopped and started around a restore
  std::vector<std::string> replicas;  ///< streaming replicas a restore leaves on the old timeline
};

/// The hosts of `state` (what `crmctl apply --target ssh` recorded in `source`). Throws
/// InputError naming `source` unless exactly one host has pgBackRest's configuration.
SshBackupHosts FindBackupHosts(const DeploymentState& state, const std::string& source);

/// What backups need of a rendered pgbackrest.conf: its stanza (the first section but
/// [global]) and that stanza's pg1-path; empty when absent.
struct PgBackRestConf {
  std::string stanza;
  std::string pg1_path;
};
PgBackRestConf ReadPgBackRestConf(const std::string& text);

/// The backups of the ssh deployment recorded in `options.dir`, oldest first (no files
/// archives: the renderings keep nothing in slice directories a restore needs). Throws
/// InputError when nothing was applied there with --target ssh or the inventory lacks the
/// database host, RuntimeError naming the host when ssh or pgbackrest fails.
std::vector<BackupInfo> ListSshBackups(const SshOptions& options);

/// Takes a backup now (`type` full, diff or incr) on the database host, printing every step
/// unless `console.quiet`. Throws as ListSshBackups, and InputError for a bad type.
BackupInfo TakeSshBackup(const SshOptions& options, const std::string& type, Console console);

/// Restores the whole ssh deployment, or one tenant (`request.tenant`), to the point `request`
/// asks for (its `target` is not read: `options` says where the deployment is), after printing
/// the plan and getting approval as apply does (InputError when refused, nothing changed).
/// Whole: stops crmd on its hosts and PostgreSQL on the database host, moves the data directory
/// aside, `pgbackrest restore`s and recovers it, starts PostgreSQL and waits for promotion, starts
/// crmd and waits for its health checks. One tenant: recovers a temporary cluster in a temporary
/// directory beside the data directory on the database host (removed at the end, also on
/// failure), dumps the tenant's schema from it and replaces the live schema while `slices` holds
/// the slice suspended through the gateway's admin API at `admin` (InputError before anything
/// changes when `admin.url` is empty); other tenants are untouched, slice files are not restored
/// (the renderings keep nothing there a restore needs).
void RestoreSsh(const SshOptions& options, const RestoreRequest& request, Console console,
                const SliceControl& slices = {}, const AdminAccess& admin = {});

}  // namespace crm::apply
