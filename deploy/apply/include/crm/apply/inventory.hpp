// The inventory of `crmctl apply --target ssh`: which machine takes which rendered host, how to
// reach it, where its bundle goes and how it is installed, restarted and checked.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace crm::apply {

struct InventoryHost {
  std::string name;     ///< a host of the rendering ("vps", "app-1", "slice-2", ...)
  std::string address;  ///< IP or DNS name
  int port = 22;
  std::string user = "root";
  std::string key;  ///< private key file (absolute; relative ones resolved to the inventory)
  std::string known_hosts;  ///< known_hosts file; empty: accept-new into the deployment directory
  std::string dir = "/var/lib/crmctl/bundle";  ///< where the host's bundle is copied
  /// Shell commands run in `dir` over ssh; "{host}" and "{dir}" are replaced. Empty install: none.
  std::string install;
  std::optional<std::string> restart;  ///< nullopt: the role's default
  std::optional<std::string> health;   ///< nullopt: the role's default
  // What `crmctl backup` and `crmctl restore` run there (docs/operations.md, "Backups"); the
  // defaults are what the vps and multi renderings install. Empty: the default.
  std::string stop;            ///< a crmd host: stops crmd for a restore
  std::string postgres_stop;   ///< the database host: stops PostgreSQL
  std::string postgres_start;  ///< the database host: starts PostgreSQL
  std::string pgbackrest;      ///< pgbackrest as the postgres user (--stanza and the rest appended)
  std::string psql;            ///< psql as a superuser on the primary (-X -At -d … appended)
  std::string pg_data;  ///< the data directory; empty: pg1-path of the rendered pgbackrest.conf
  /// PostgreSQL's programs (pg_ctl, pg_dump, psql) for a one-tenant restore's temporary cluster.
  std::string pg_bin = "/usr/lib/postgresql/15/bin";
  int line = 0;  ///< where it is in the inventory, for messages
};

struct Inventory {
  std::string file;
  std::vector<InventoryHost> hosts;
  int batch_size = 1;  ///< slice hosts restarted at once, with a health check between batches
  int health_timeout_s = 60;

  const InventoryHost* Find(const std::string& name) const;
};

/// Parses inventory YAML strictly (unknown keys, missing fields, duplicate names, bad ports are
/// InputErrors with file:line:col). `file` names the text and anchors relative key paths.
Inventory ParseInventory(const std::string& text, const std::string& file);

/// The default commands for a host of `role`: crmd's roles (all, app, slice) are restarted with
/// systemd and checked with `systemctl is-active`; the others only installed.
std::string DefaultInstall(const std::string& user);
std::string DefaultRestart(const std::string& role, const std::string& user);
std::string DefaultHealth(const std::string& role);

/// The backup commands of `host` with the defaults filled in: systemd's units and the postgres
/// user through runuser (root) or `sudo -n` (another user), as the renderings install them.
std::string BackupStop(const InventoryHost& host);
std::string PostgresStop(const InventoryHost& host);
std::string PostgresStart(const InventoryHost& host);
std::string PgBackRestCommand(const InventoryHost& host);
std::string PsqlCommand(const InventoryHost& host);
/// `command` as the postgres user there: through runuser (root) or `sudo -n -u postgres`.
std::string AsPostgres(const InventoryHost& host, const std::string& command);
/// PostgreSQL's program `tool` in the host's pg_bin, as the postgres user.
std::string PgToolCommand(const InventoryHost& host, const std::string& tool);

/// `command` with {host} and {dir} replaced.
std::string ExpandCommand(const std::string& command, const InventoryHost& host);

/// The order an ssh apply visits hosts, as batches of indexes into `roles` (one role per host,
/// in the rendering's order): database hosts (postgres*, queue-db) first, then the other
/// non-slice hosts one at a time, then the slice hosts `batch_size` at a time — the rolling
/// restart, with a health check between batches.
std::vector<std::vector<std::size_t>> RolloutBatches(const std::vector<std::string>& roles,
                                                     int batch_size);

/// `text` quoted for a POSIX shell.
std::string ShellQuote(const std::string& text);

}  // namespace crm::apply
