// crmctl backup and restore for --target ssh: the database host found in the recorded state (the
// host the rendering gave pgBackRest's configuration, not the replica), its stanza and data
// directory read from that configuration as apply staged it, and pgbackrest, psql, pg_ctl,
// pg_dump and the service commands run there over ssh (docs/operations.md, "Backups (ssh
// target)").
#include "crm/apply/ssh_backup.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <thread>

#include "backup_host.hpp"
#include "crm/apply/approval.hpp"
#include "crm/apply/inventory.hpp"
#include "crm/apply/lock.hpp"
#include "crm/apply/state.hpp"
#include "crm/apply/step.hpp"
#include "crm/error.hpp"
#include "crm/files.hpp"
#include "crm/text.hpp"
#include "crm/units.hpp"
#include "local_deployment.hpp"
#include "ssh_session.hpp"

namespace crm::apply {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ssh::RequireReachable;
using ssh::SshSession;
using ssh::Where;
using tools::ToolResult;

// Where the vps and multi renderings put pgBackRest's configuration (relative to a host's root).
constexpr const char* kPgBackRestConf = "etc/pgbackrest/pgbackrest.conf";
constexpr const char* kReplica = "postgres-replica";

// What a restore or backup of an ssh deployment needs to know, from state.json, the inventory and
// the staged rendering.
struct SshDeployment {
  fs::path dir;
  Inventory inventory;
  std::string db;  // the database host's name
  std::string stanza;
  std::string pg_data;
  std::vector<std::string> crmd;      // hosts running crmd, in the recorded order
  std::vector<std::string> replicas;  // streaming replicas a point-in-time restore leaves behind
  std::string list;                   // the command that lists the backups, for messages

  const InventoryHost& Host(const std::string& name) const { return *inventory.Find(name); }
};

SshDeployment Open(const SshOptions& options) {
  if (options.inventory.empty()) {
    throw InputError("--inventory: required with --target ssh (the hosts the deployment runs on)");
  }
  if (options.dir.empty()) {
    throw InputError("--dir: required (the directory `crmctl apply --target ssh` recorded in)");
  }
  SshDeployment d;
  d.dir = fs::absolute(options.dir);
  d.inventory = ParseInventory(options.inventory_text, fs::absolute(options.inventory).string());
  d.list = fmt::format("crmctl backup --target ssh --inventory {} --dir {}", options.inventory,
                       options.dir);
  const DeploymentState state = LoadState(StatePath(d.dir));
  if (state.target != "ssh" || state.hosts.empty()) {
    throw InputError(fmt::format(
        "--dir: {} records no ssh deployment (`crmctl apply --target ssh --dir {}` records one)",
        d.dir.string(), options.dir));
  }
  SshBackupHosts hosts = FindBackupHosts(state, StatePath(d.dir).string());
  d.db = hosts.database;
  d.crmd = std::move(hosts.crmd);
  d.replicas = std::move(hosts.replicas);
  std::vector<std::string> used = d.crmd;
  used.push_back(d.db);
  for (const std::string& name : used) {
    if (d.inventory.Find(name) == nullptr) {
      throw InputError(fmt::format("{}: no host named '{}', which the deployment in {} runs on",
                                   d.inventory.file, name, d.dir.string()));
    }
  }
  // The configuration as apply staged and copied it: what install.sh installed on the host.
  const fs::path staged = d.dir / "hosts" / d.db / kPgBackRestConf;
  const auto text = ReadFileIfExists(staged);
  if (!text) {
    throw InputError(fmt::format("{}: missing; run `crmctl apply --target ssh` again to stage it",
                                 staged.string()));
  }
  const PgBackRestConf facts = ReadPgBackRestConf(*text);
  if (facts.stanza.empty() || facts.pg1_path.empty()) {
    throw InputError(fmt::format("{}: no stanza with pg1-path", staged.string()));
  }
  d.stanza = facts.stanza;
  const InventoryHost& db = d.Host(d.db);
  d.pg_data = db.pg_data.empty() ? facts.pg1_path : db.pg_data;
  return d;
}

// pgbackrest and psql on the database host, over the session's connection.
class SshDatabase final : public backup::DatabaseHost {
 public:
  SshDatabase(SshSession& session, const InventoryHost& host, std::string stanza)
      : session_(session), host_(host), stanza_(std::move(stanza)) {}

  ToolResult PgBackRest(const std::vector<std::string>& args,
                        std::chrono::seconds timeout) override {
    std::string command = PgBackRestCommand(host_) + " --stanza=" + ShellQuote(stanza_);
    for (const std::string& a : args) {
      command += " " + ShellQuote(a);
    }
    return Run(command, timeout);
  }
  std::string LogHint() const override {
    return fmt::format("/var/log/pgbackrest/ on host {}", host_.name);
  }
  /// psql's -At answer to `sql` on database `db` as a superuser.
  ToolResult Query(const std::string& db, const std::string& sql) {
    return Run(fmt::format("{} -X -At -v ON_ERROR_STOP=1 -d {} -c {}", PsqlCommand(host_),
                           ShellQuote(db), ShellQuote(sql)),
               30s);
  }
  /// `script` fed to psql on database `db` as a superuser in one transaction that stops at the
  /// first error; RuntimeError naming `what` and psql's output unless it succeeds.
  void Script(const std::string& db, const std::string& script, const std::string& what) {
    const ToolResult r = Run(
        fmt::format("printf '%s' {} | {} -X -q -v ON_ERROR_STOP=1 -d {} --single-transaction -f -",
                    ShellQuote(script), PsqlCommand(host_), ShellQuote(db)),
        3600s);
    if (r.exit_code != 0) {
      throw RuntimeError(fmt::format("host {}: {} failed (psql exit {}{}): {}", host_.name, what,
                                     r.exit_code, r.timed_out ? ", timed out" : "", r.output));
    }
  }
  /// `command` on the host; RuntimeError naming the host when ssh cannot reach it.
  ToolResult Run(const std::string& command, std::chrono::seconds timeout) {
    const ToolResult r = session_.RunInDir(host_, command, timeout);
    RequireReachable(host_, r);
    return r;
  }

 private:
  SshSession& session_;
  const InventoryHost& host_;
  std::string stanza_;
};

// Runs `command` on `host`; throws RuntimeError naming the host, what failed and `then` (what the
// operator must know about the state the restore left).
void RunOrThrow(SshSession& session, const InventoryHost& host, const std::string& command,
                const std::string& what, const std::string& then, std::chrono::seconds timeout) {
  const ToolResult r = session.RunInDir(host, command, timeout);
  RequireReachable(host, r);
  if (r.exit_code != 0) {
    throw RuntimeError(fmt::format("host {}: {} failed (`{}`, exit {}): {}{}", host.name, what,
                                   ExpandCommand(command, host), r.exit_code, r.output, then));
  }
}

std::string AsRoot(const InventoryHost& host, const std::string& command) {
  return host.user == "root" ? command : "sudo -n " + command;
}

std::string Names(const std::vector<std::string>& names) {
  return names.empty() ? std::string("(none)") : fmt::format("{}", fmt::join(names, ", "));
}

std::string Stamp() {
  return fmt::format("{:%Y%m%d-%H%M%S}", fmt::gmtime(std::time(nullptr)));
}

// --- one tenant ---------------------------------------------------------------------------------

// The scratch cluster listens on no TCP address: the port only names its socket, in a directory
// of its own, so it cannot clash with the live cluster or anything else on the host.
constexpr int kScratchPort = 5499;

// A temporary cluster in a temporary directory beside the live data directory on the database
// host (the postgres user's, with room for a copy): created by the constructor, stopped and
// removed by the destructor, also when the restore fails.
class SshScratchCluster final : public backup::ScratchCluster {
 public:
  SshScratchCluster(SshDatabase& db, const InventoryHost& host, const std::string& pg_data)
      : db_(db), host_(host) {
    const std::string parent = fs::path(pg_data).parent_path().string();
    const ToolResult r = db_.Run(
        AsPostgres(host_, "mktemp -d " + ShellQuote(parent + "/tenant-restore-XXXXXX")), 60s);
    const std::string made = local::TrimLine(r.output);
    if (r.exit_code != 0 || !made.starts_with(parent + "/tenant-restore-") ||
        made.find_first_of("\n'") != std::string::npos) {
      throw RuntimeError(
          fmt::format("host {}: cannot make a temporary directory in {} as the "
                      "postgres user (exit {}): {}",
                      host_.name, parent, r.exit_code, r.output));
    }
    root_ = made;
    Run(AsPostgres(host_, "mkdir -m 0700 " + ShellQuote(Data())), "making its data directory");
  }
  ~SshScratchCluster() override {
    try {
      if (started_) {
        db_.Run(fmt::format("{} -D {} -m immediate -w stop", PgToolCommand(host_, "pg_ctl"),
                            ShellQuote(Data())),
                120s);
      }
      const ToolResult r = db_.Run(AsPostgres(host_, "rm -rf " + ShellQuote(root_)), 600s);
      if (r.exit_code == 0) {
        return;
      }
    } catch (const std::exception&) {
      // Said below: the operator removes what is left.
    }
    std::cerr << fmt::format("warning: host {}: remove the temporary cluster {} by hand\n",
                             host_.name, root_);
  }
  SshScratchCluster(const SshScratchCluster&) = delete;
  SshScratchCluster& operator=(const SshScratchCluster&) = delete;

  std::string Data() const override { return root_ + "/data"; }
  std::string Where() const override {
    return fmt::format("socket in {} on {}, no TCP", root_, host_.name);
  }

  void Start() override {
    // Debian's packages keep the configuration in /etc, outside the backup: the scratch copy gets
    // empty ones (ScratchServerOptions says the rest) and the postgres user by peer.
    Run(AsPostgres(host_, "sh -c " + ShellQuote(fmt::format(
                                         "cd {} && for f in postgresql.conf pg_ident.conf; do [ "
                                         "-e \"$f\" ] || : > \"$f\"; done && {{ [ -e pg_hba.conf "
                                         "] || echo 'local all postgres peer' > pg_hba.conf; }}",
                                         ShellQuote(Data())))),
        "writing its configuration");
    started_ = true;
    const std::string log = root_ + "/postgres.log";
    const ToolResult r =
        db_.Run(fmt::format("{} -D {} -l {} -o {} -w -t 600 start", PgToolCommand(host_, "pg_ctl"),
                            ShellQuote(Data()), ShellQuote(log),
                            ShellQuote(backup::ScratchServerOptions(kScratchPort, root_))),
                660s);
    if (r.exit_code != 0) {
      const ToolResult tail = db_.Run(AsPostgres(host_, "tail -n 15 " + ShellQuote(log)), 30s);
      throw RuntimeError(
          fmt::format("host {}: the temporary cluster did not start (pg_ctl exit {}): {}\n{}",
                      host_.name, r.exit_code, r.output, tail.output));
    }
  }
  ToolResult InRecovery() override {
    return db_.Run(
        fmt::format("{} -X -At -h {} -p {} -d postgres -c {}", PgToolCommand(host_, "psql"),
                    ShellQuote(root_), kScratchPort, ShellQuote("SELECT pg_is_in_recovery()")),
        30s);
  }
  std::pair<std::string, std::uint64_t> DumpSchema(const std::string& schema) override {
    const std::string dump = fmt::format("{}/{}.sql", root_, schema);
    Run(fmt::format("{} -h {} -p {} -d {} -n {} -f {}", PgToolCommand(host_, "pg_dump"),
                    ShellQuote(root_), kScratchPort, backup::kCrmDatabase, ShellQuote(schema),
                    ShellQuote(dump)),
        "pg_dump -n " + schema);
    const ToolResult size = db_.Run(AsPostgres(host_, "wc -c " + ShellQuote(dump)), 30s);
    return {dump, std::strtoull(size.output.c_str(), nullptr, 10)};
  }

 private:
  void Run(const std::string& command, const std::string& what) {
    const ToolResult r = db_.Run(command, 3600s);
    if (r.exit_code != 0) {
      throw RuntimeError(fmt::format("host {}: temporary cluster: {} failed (exit {}): {}",
                                     host_.name, what, r.exit_code, r.output));
    }
  }

  SshDatabase& db_;
  const InventoryHost& host_;
  std::string root_;
  bool started_ = false;
};

void RestoreTenant(const SshDeployment& d, SshDatabase& db, const RestoreRequest& request,
                   const BackupInfo& backup, const std::optional<RecoveryTime>& time,
                   Console console, const SliceControl& slices, const AdminAccess& admin) {
  const backup::TenantSlice slice = backup::FindSlice(
      [&](const std::string& sql) {
        const ToolResult r = db.Query(backup::kCrmDatabase, sql);
        if (r.exit_code != 0) {
          throw RuntimeError(
              fmt::format("host {}: finding the tenant's slice failed (psql exit "
                          "{}): {}",
                          d.db, r.exit_code, r.output));
        }
        return r.output;
      },
      request.tenant);
  if (slices.check) {
    slices.check(admin, slice.id);
  }
  const std::string point = time ? time->text : "the end of backup " + backup.label;
  backup::PrintTenantPlan(
      request.tenant, slice, backup,
      {fmt::format("the ssh deployment in {}", d.dir.string()), point,
       fmt::format("in a temporary directory beside {} on {} (removed afterwards)", d.pg_data,
                   d.db),
       "files: nothing to restore (the renderings keep nothing in slice directories that a "
       "restore needs)"});
  if (!ConfirmChanges(request.dry_run, request.auto_approve, "restore this tenant")) {
    return;
  }
  const ApplyLock lock = ApplyLock::Acquire(LockPath(d.dir));
  std::cout << "\nRestoring:\n";
  const auto started = std::chrono::steady_clock::now();
  if (time) {
    backup::ArchiveCurrentWal(db, console);
  }
  std::optional<SshScratchCluster> scratch;
  {
    Step step(console.quiet,
              fmt::format("{}: make a temporary directory beside {}", d.db, d.pg_data));
    scratch.emplace(db, d.Host(d.db), d.pg_data);
    step.Done();
  }
  const std::string dump = backup::DumpAsOf(db, *scratch, backup, time, slice, console);
  backup::ReplaceWhileSuspended(slice, admin, slices, console, [&] {
    Step step(console.quiet,
              fmt::format("{}: replace schema {} (one transaction)", d.db, slice.Role()));
    db.Script(backup::kCrmDatabase, backup::ReplaceSchemaSql(slice, dump), "replacing the schema");
    step.Done();
  });
  {
    Step step(console.quiet, fmt::format("{}: stop and remove the temporary cluster", d.db));
    scratch.reset();
    step.Done();
  }
  backup::PrintTenantRestored(request.tenant, started, point, console);
}

}  // namespace

SshBackupHosts FindBackupHosts(const DeploymentState& state, const std::string& source) {
  SshBackupHosts hosts;
  std::vector<std::string> candidates;
  for (const auto& [name, host] : state.hosts) {
    if (name == kReplica || host.services.contains(kReplica)) {
      hosts.replicas.push_back(name);
    } else if (host.files.contains(kPgBackRestConf)) {
      candidates.push_back(name);
    }
    if (host.services.contains("crmd")) {
      hosts.crmd.push_back(name);
    }
  }
  if (candidates.size() != 1) {
    throw InputError(fmt::format(
        "--dir: {}: {} hosts with pgBackRest's configuration ({}); expected the one PostgreSQL "
        "primary (apply the deployment again with a plan whose rendering has backups)",
        source, candidates.size(), fmt::join(candidates, ", ")));
  }
  hosts.database = candidates.front();
  return hosts;
}

PgBackRestConf ReadPgBackRestConf(const std::string& text) {
  PgBackRestConf conf;
  std::string section;
  for (std::string line : SplitLines(text)) {
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) {
      line.pop_back();
    }
    if (line.size() > 2 && line.front() == '[' && line.back() == ']') {
      section = line.substr(1, line.size() - 2);
      if (conf.stanza.empty() && !section.starts_with("global")) {
        conf.stanza = section;
      }
      continue;
    }
    if (!conf.stanza.empty() && section == conf.stanza && line.starts_with("pg1-path=")) {
      conf.pg1_path = line.substr(9);
    }
  }
  return conf;
}

std::vector<BackupInfo> ListSshBackups(const SshOptions& options) {
  const SshDeployment d = Open(options);
  SshSession session(d.dir / "known_hosts");
  SshDatabase db(session, d.Host(d.db), d.stanza);
  return backup::ReadBackups(db);
}

BackupInfo TakeSshBackup(const SshOptions& options, const std::string& type, Console console) {
  if (type != "full" && type != "diff" && type != "incr") {
    throw InputError(fmt::format("--type: '{}'; expected full, diff or incr", type), "type");
  }
  const SshDeployment d = Open(options);
  const ApplyLock lock = ApplyLock::Acquire(LockPath(d.dir));
  SshSession session(d.dir / "known_hosts");
  const InventoryHost& host = d.Host(d.db);
  SshDatabase db(session, host, d.stanza);
  const auto started = std::chrono::steady_clock::now();
  if (!console.quiet) {
    std::cout << fmt::format("Backup of the ssh deployment in {} on host {} ({}), stanza {}:\n",
                             d.dir.string(), d.db, Where(host), d.stanza);
  }
  {
    Step step(console.quiet, fmt::format("{}: pgbackrest backup --type={}", d.db, type));
    backup::PgBackRestOrThrow(db, {"--type=" + type, "backup"}, 7200s, "the backup");
    step.Done();
  }
  const std::vector<BackupInfo> backups = backup::ReadBackups(db);
  if (backups.empty()) {
    throw RuntimeError("pgbackrest backup succeeded but info lists no backup");
  }
  const BackupInfo& newest = backups.back();
  backup::PrintBackupTaken(newest, started, console);
  return newest;
}

void RestoreSsh(const SshOptions& options, const RestoreRequest& request, Console console,
                const SliceControl& slices, const AdminAccess& admin) {
  if (!request.tenant.empty() && admin.url.empty()) {
    throw InputError(
        "--tenant: over ssh the tenant's slice is suspended and resumed through the gateway's "
        "admin API: give its URL with --admin-url (or CRM_URL)",
        "tenant");
  }
  if (request.time.empty() == request.backup_id.empty()) {
    throw InputError("--time or --backup: exactly one says what to restore to", "time");
  }
  std::optional<RecoveryTime> time;
  if (!request.time.empty()) {
    time = ParseRecoveryTime(request.time);
  }
  const SshDeployment d = Open(options);
  SshSession session(d.dir / "known_hosts");
  const InventoryHost& host = d.Host(d.db);
  SshDatabase db(session, host, d.stanza);
  const std::vector<BackupInfo> backups = backup::ReadBackups(db);
  const BackupInfo& chosen = backup::ChooseBackup(backups, request.backup_id, time, d.list);
  if (!request.tenant.empty()) {
    RestoreTenant(d, db, request, chosen, time, console, slices, admin);
    return;
  }
  const std::string point = time ? time->text : "the end of backup " + chosen.label;
  const std::string aside = fmt::format("{}.before-restore-{}", d.pg_data, Stamp());

  std::cout << fmt::format(
      "Restore the ssh deployment in {} to {} from backup {} ({}, finished {}):\n", d.dir.string(),
      point, chosen.label, chosen.type, backup::Utc(chosen.stop));
  std::cout << fmt::format("  - stop crmd on {}\n", Names(d.crmd));
  std::cout << fmt::format("  - stop PostgreSQL on {}\n", d.db);
  std::cout << fmt::format("  ~ {}:{} moved aside to {}\n", d.db, d.pg_data, aside);
  std::cout << fmt::format("  + {}:{} restored by pgBackRest (stanza {}) and recovered to {}\n",
                           d.db, d.pg_data, d.stanza, point);
  std::cout << fmt::format("  + start PostgreSQL on {}, then crmd on {} and check their health\n",
                           d.db, Names(d.crmd));
  for (const std::string& replica : d.replicas) {
    std::cout << fmt::format(
        "  ! {} keeps following the old timeline: re-clone it from {} afterwards "
        "(docs/operations.md)\n",
        replica, d.db);
  }
  if (!ConfirmChanges(request.dry_run, request.auto_approve, "restore the deployment")) {
    return;
  }
  const ApplyLock lock = ApplyLock::Acquire(LockPath(d.dir));
  std::cout << "\nRestoring:\n";
  const auto started = std::chrono::steady_clock::now();
  // crmd hosts already stopped stay stopped until the operator starts them (or applies again).
  const std::string untouched =
      "\nNothing was restored; the database is as it was. crmd hosts stopped before this step "
      "stay stopped: `crmctl apply --target ssh` (or their restart command) starts them.";
  if (time && db.Query("postgres", "SELECT 1").exit_code == 0) {
    // Up to now: the segment in progress is closed and archived while the server still runs.
    backup::ArchiveCurrentWal(db, console);
  }
  for (const std::string& name : d.crmd) {
    const InventoryHost& h = d.Host(name);
    Step step(console.quiet,
              fmt::format("{}: stop crmd ({})", name, ExpandCommand(BackupStop(h), h)));
    RunOrThrow(session, h, BackupStop(h), "stopping crmd", untouched, 120s);
    step.Done();
  }
  {
    Step step(console.quiet, fmt::format("{}: stop PostgreSQL ({})", d.db,
                                         ExpandCommand(PostgresStop(host), host)));
    RunOrThrow(session, host, PostgresStop(host), "stopping PostgreSQL", untouched, 300s);
    step.Done();
  }
  {
    Step step(console.quiet, fmt::format("{}: move {} aside", d.db, d.pg_data));
    const std::string data = ShellQuote(d.pg_data);
    RunOrThrow(session, host,
               fmt::format("if [ -e {0} ]; then {1}; fi && {2}", data,
                           AsRoot(host, fmt::format("mv {} {}", data, ShellQuote(aside))),
                           AsRoot(host, fmt::format("install -d -m 0700 -o postgres -g postgres {}",
                                                    data))),
               "moving the data directory aside",
               "\nStart PostgreSQL again to go on as before the restore.", 600s);
    step.Done();
  }
  const std::string old_data =
      fmt::format("\nThe data directory before the restore is {}:{}; move it back to {} to undo.",
                  d.db, aside, d.pg_data);
  {
    Step step(console.quiet, fmt::format("{}: pgbackrest restore --set={}", d.db, chosen.label));
    std::vector<std::string> args = backup::RecoveryArgs(chosen, time);
    args.push_back("--pg1-path=" + d.pg_data);
    args.push_back("restore");
    try {
      backup::PgBackRestOrThrow(db, args, 3600s, "pgbackrest restore");
    } catch (const RuntimeError& e) {
      throw RuntimeError(e.what() + old_data);
    }
    step.Done();
  }
  {
    Step step(console.quiet, fmt::format("{}: start PostgreSQL and recover to {}", d.db, point));
    RunOrThrow(session, host, PostgresStart(host), "starting PostgreSQL", old_data, 660s);
    backup::AwaitPromoted([&] { return db.Query("postgres", "SELECT pg_is_in_recovery()"); }, 600s);
    step.Done();
  }
  // The new timeline archives into the same stanza.
  backup::ArchiveCurrentWal(db, console);
  for (const std::string& name : d.crmd) {
    const InventoryHost& h = d.Host(name);
    const std::string start = h.restart.value_or(DefaultRestart("app", h.user));
    const std::string health = h.health.value_or(DefaultHealth("app"));
    Step step(console.quiet, fmt::format("{}: start crmd and check its health", name));
    if (!start.empty()) {
      RunOrThrow(session, h, start, "starting crmd", "", 300s);
    }
    if (!health.empty()) {
      AwaitHealthy(session, h, health, d.inventory.health_timeout_s);
    }
    step.Done();
  }
  if (!console.quiet) {
    std::cout << fmt::format(
        "\nRestored in {} to {}. The data directory before the restore is {}:{}: delete it once "
        "the restore is checked.\n",
        FormatSeconds(std::chrono::steady_clock::now() - started), point, d.db, aside);
    for (const std::string& replica : d.replicas) {
      std::cout << fmt::format("Re-clone {} from {}: it still follows the old timeline.\n", replica,
                               d.db);
    }
  }
}

}  // namespace crm::apply
