// crmctl backup (list, now) and crmctl restore for local and ssh deployments; the work is
// deploy/apply's (local_backup.hpp, ssh_backup.hpp), the admin API calls that suspend and resume
// a tenant's slice are here.
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <stdlib.h>

#include <ctime>
#include <iostream>
#include <memory>
#include <optional>

#include "admin_client.hpp"
#include "cli_context.hpp"
#include "crm/apply/local_backup.hpp"
#include "crm/apply/ssh_backup.hpp"
#include "crm/error.hpp"
#include "crm/units.hpp"

namespace crm::cli {
namespace {

// Where the deployment is: --target local (the directory) or ssh (its inventory too).
struct Where {
  std::string target = "local";
  std::string inventory;
};

struct BackupOptions {
  apply::BackupTarget target;
  Where where;
  std::string type = "full";
};

struct RestoreOptions {
  apply::RestoreRequest request;
  Where where;
  std::string admin_url;  ///< ssh --tenant: the gateway; empty: $CRM_URL
};

void AddWhere(CLI::App* cmd, Where& where) {
  cmd->add_option("--target", where.target, "local (default) or ssh, as the deployment was applied")
      ->check(CLI::IsMember({"local", "ssh"}));
  cmd->add_option("--inventory", where.inventory,
                  "ssh: the inventory file apply used (hosts, keys, commands)");
}

// The ssh target's options; the local flags it has no use for are refused, not ignored.
std::optional<apply::SshOptions> SshTarget(const Where& where, const apply::BackupTarget& target) {
  if (where.target != "ssh") {
    if (!where.inventory.empty()) {
      throw InputError("--inventory: only with --target ssh");
    }
    return std::nullopt;
  }
  if (!target.repo.empty()) {
    throw InputError(
        "--backup-repo: not with --target ssh (the repository is the one the database host's "
        "pgBackRest configuration names)");
  }
  const std::string text = where.inventory.empty() ? "" : ReadInputFile(where.inventory);
  return apply::SshOptions{target.dir, where.inventory, text};
}

std::string Utc(std::time_t t) {
  return fmt::format("{:%Y-%m-%d %H:%M:%S}", fmt::gmtime(t));
}

// `files`: whether the target keeps a files archive per backup (the local one does).
void PrintBackups(const std::vector<apply::BackupInfo>& backups, const GlobalOptions& global,
                  bool files) {
  const std::time_t now = std::time(nullptr);
  const planner::OutputFormat format = OutputFormatOr(global, planner::OutputFormat::kTable);
  if (format == planner::OutputFormat::kJson || format == planner::OutputFormat::kYaml) {
    nlohmann::ordered_json items = nlohmann::ordered_json::array();
    for (const apply::BackupInfo& b : backups) {
      items.push_back({{"label", b.label},
                       {"type", b.type},
                       {"size_bytes", b.size_bytes},
                       {"repo_bytes", b.repo_bytes},
                       {"files_bytes", b.files_bytes},
                       {"start", b.start},
                       {"stop", b.stop},
                       {"age_seconds", now - b.stop},
                       {"files_archive", b.files_archive}});
    }
    PrintDocument({{"backups", items}}, format);
    return;
  }
  if (backups.empty()) {
    std::cout << "No backups yet (`crmctl backup now` with the same options takes one).\n";
    return;
  }
  std::cout << fmt::format("{:<34} {:<5} {:>10} {:>10} {:>10}  {:<19}  {:<19}  {}\n", "LABEL",
                           "TYPE", "DATABASE", "ADDED", "FILES", "STARTED (UTC)", "STOPPED (UTC)",
                           "AGE");
  for (const apply::BackupInfo& b : backups) {
    std::cout << fmt::format("{:<34} {:<5} {:>10} {:>10} {:>10}  {:<19}  {:<19}  {}\n", b.label,
                             b.type, crm::FormatBytes(static_cast<double>(b.size_bytes)),
                             crm::FormatBytes(static_cast<double>(b.repo_bytes)),
                             !files ? std::string("-")
                             : b.files_archive.empty()
                                 ? std::string("missing")
                                 : crm::FormatBytes(static_cast<double>(b.files_bytes)),
                             Utc(b.start), Utc(b.stop), crm::FormatAge(now - b.stop));
  }
}

// A tenant's slice is suspended and resumed through the admin API: as the local deployment's
// admin (`access` names the account), or over ssh with the credential in crmctl's environment
// (`access.email` empty), as `crmctl slices` uses it.
apply::SliceControl AdminSliceControl() {
  const auto call = [](const apply::AdminAccess& access, const std::string& method,
                       const std::string& path, const nlohmann::json& body) {
    if (!access.email.empty()) {
      ::setenv("CRM_ADMIN_EMAIL", access.email.c_str(), 1);
      ::setenv("CRM_ADMIN_PASSWORD_FILE", access.password_file.c_str(), 1);
      ::unsetenv("CRM_ADMIN_TOKEN");
    }
    AdminClient client(access.url);
    client.Call(method, path, body);
  };
  apply::SliceControl control;
  control.suspend = [call](const apply::AdminAccess& access, long long id) {
    call(access, "POST", fmt::format("/admin/slices/{}/suspend", id),
         {{"reason", "crmctl restore --tenant: schema being replaced"}});
  };
  control.resume = [call](const apply::AdminAccess& access, long long id) {
    call(access, "POST", fmt::format("/admin/slices/{}/resume", id), nullptr);
  };
  control.check = [call](const apply::AdminAccess& access, long long id) {
    call(access, "GET", fmt::format("/admin/slices/{}", id), nullptr);
  };
  return control;
}

bool InEnvironment(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0';
}

// The gateway an ssh --tenant restore suspends the slice through: --admin-url, else $CRM_URL
// (not crmctl slices' loopback default: crmd runs on another machine), with a credential in the
// environment that needs no terminal (stdin may be the approval's). InputError naming what is
// missing, before any host is reached.
apply::AdminAccess SshAdmin(const RestoreOptions& opts) {
  if (opts.request.tenant.empty()) {
    if (!opts.admin_url.empty()) {
      throw InputError("--admin-url: only with --tenant (a whole restore stops crmd instead)");
    }
    return {};
  }
  const std::string url = !opts.admin_url.empty()    ? opts.admin_url
                          : InEnvironment("CRM_URL") ? std::string(std::getenv("CRM_URL"))
                                                     : std::string();
  const bool credential =
      InEnvironment("CRM_ADMIN_TOKEN") ||
      (InEnvironment("CRM_ADMIN_EMAIL") && InEnvironment("CRM_ADMIN_PASSWORD_FILE"));
  if (url.empty() || !credential) {
    throw InputError(
        "--tenant: over ssh the tenant's slice is suspended and resumed through the gateway's "
        "admin API: give its URL with --admin-url (or CRM_URL) and an admin credential in "
        "CRM_ADMIN_TOKEN (or CRM_ADMIN_EMAIL with CRM_ADMIN_PASSWORD_FILE); nothing was changed",
        "tenant");
  }
  return {url, "", {}};
}

void SetupBackupCommand(CLI::App& app, GlobalOptions& global) {
  auto opts = std::make_shared<BackupOptions>();
  CLI::App* cmd = app.add_subcommand(
      "backup", "A deployment's backups (local or ssh): list them (default) or take one now");
  cmd->add_option("--dir", opts->target.dir, "Deployment directory (ssh: where apply recorded it)")
      ->required();
  cmd->add_option("--backup-repo", opts->target.repo,
                  "local: the repository (default: the recorded one, else DIR.backups)");
  AddWhere(cmd, opts->where);
  cmd->require_subcommand(0, 1);
  CLI::App* list = cmd->add_subcommand("list", "Backups with label, type, sizes, times and age");
  CLI::App* now = cmd->add_subcommand("now", "Take a backup now, with the deployment's files");
  now->add_option("--type", opts->type, "full (default), diff or incr")
      ->check(CLI::IsMember({"full", "diff", "incr"}));
  cmd->callback([opts, cmd, now, list, &global]() {
    (void)list;
    const apply::Console console{global.quiet, UseColor(global, 1)};
    const auto ssh = SshTarget(opts->where, opts->target);
    if (cmd->got_subcommand(now)) {
      if (ssh) {
        apply::TakeSshBackup(*ssh, opts->type, console);
      } else {
        apply::TakeBackup(opts->target, opts->type, console);
      }
      return;
    }
    if (ssh) {
      PrintBackups(apply::ListSshBackups(*ssh), global, false);
    } else {
      PrintBackups(apply::ListBackups(opts->target), global, true);
    }
  });
}

void SetupRestoreCommand(CLI::App& app, GlobalOptions& global) {
  auto opts = std::make_shared<RestoreOptions>();
  apply::RestoreRequest& r = opts->request;
  CLI::App* cmd = app.add_subcommand(
      "restore",
      "Restore a deployment, or one tenant, (local or ssh) to a point in time or to a backup's "
      "end");
  cmd->add_option("--dir", r.target.dir, "Deployment directory (may have been purged)")->required();
  cmd->add_option("--backup-repo", r.target.repo,
                  "local: the repository (default: the recorded one, else DIR.backups)");
  AddWhere(cmd, opts->where);
  auto* time = cmd->add_option("--time", r.time,
                               "Recover to this point, with a zone: '2026-11-30 08:50:00+00'");
  auto* backup =
      cmd->add_option("--backup", r.backup_id, "Restore to the end of this backup (its label)");
  time->excludes(backup);
  cmd->add_option("--tenant", r.tenant,
                  "Only this account's data (schema, role's objects; local: files too); others "
                  "untouched");
  cmd->add_option("--admin-url", opts->admin_url,
                  "ssh --tenant: the gateway whose admin API suspends and resumes the slice "
                  "(default $CRM_URL; credential: CRM_ADMIN_TOKEN, or CRM_ADMIN_EMAIL with "
                  "CRM_ADMIN_PASSWORD_FILE)");
  cmd->add_flag("--dry-run", r.dry_run, "Print the plan and change nothing");
  cmd->add_flag("--auto-approve", r.auto_approve,
                "Restore without asking (required when stdin is not a terminal)");
  cmd->callback([opts, &global]() {
    const apply::Console console{global.quiet, UseColor(global, 1)};
    if (const auto ssh = SshTarget(opts->where, opts->request.target)) {
      apply::RestoreSsh(*ssh, opts->request, console, AdminSliceControl(), SshAdmin(*opts));
      return;
    }
    if (!opts->admin_url.empty()) {
      throw InputError("--admin-url: only with --target ssh (the local deployment's is recorded)");
    }
    apply::Restore(opts->request, console, AdminSliceControl());
  });
}

}  // namespace

void SetupBackup(CLI::App& app, GlobalOptions& global) {
  SetupBackupCommand(app, global);
  SetupRestoreCommand(app, global);
}

}  // namespace crm::cli
