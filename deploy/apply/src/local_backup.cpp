// crmctl backup and restore for the local target: pgBackRest backups with a tar of the
// deployment's files under the same label, and restores of the whole deployment or one tenant to
// a point in time (docs/operations.md, "Backups").
#include "crm/apply/local_backup.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <optional>
#include <regex>

#include "backup_host.hpp"
#include "crm/apply/approval.hpp"
#include "crm/apply/config_text.hpp"
#include "crm/apply/lock.hpp"
#include "crm/apply/state.hpp"
#include "crm/apply/step.hpp"
#include "crm/error.hpp"
#include "crm/files.hpp"
#include "crm/ports.hpp"
#include "crm/text.hpp"
#include "crm/units.hpp"
#include "local_deployment.hpp"

namespace crm::apply {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using local::BackupRepo;
using local::Layout;

namespace {

// What the files' archive holds, relative to the deployment directory: everything but the
// cluster (pgBackRest's) and the logs. config, secrets, state and plan rebuild a purged directory.
const std::vector<std::string> kArchived = {"data", "config", "secrets", "state.json", "plan.json"};

struct Deployment {
  Layout layout;
  BackupRepo repo;
  DeploymentState state;  // empty when the directory was purged
  bool purged = false;

  int PgPort() const {
    const auto it = state.settings.find("pg_port");
    if (it == state.settings.end()) {
      throw RuntimeError(fmt::format("{}: no pg_port recorded", StatePath(layout.dir).string()));
    }
    return std::stoi(it->second);
  }
  std::string Setting(const std::string& key) const {
    const auto it = state.settings.find(key);
    return it == state.settings.end() ? std::string() : it->second;
  }
  AdminAccess Admin() const {
    return {fmt::format("http://127.0.0.1:{}", Setting("http_port")), Setting("admin_email"),
            layout.AdminPassword()};
  }
};

Deployment Open(const BackupTarget& target) {
  if (target.dir.empty()) {
    throw InputError("--dir: required (the deployment directory)");
  }
  Deployment d;
  d.layout.dir = fs::weakly_canonical(fs::absolute(target.dir));
  d.purged = !fs::exists(StatePath(d.layout.dir));
  if (!d.purged) {
    d.state = LoadState(StatePath(d.layout.dir));
  }
  d.repo = local::ChooseBackupRepo(d.layout, target.repo, d.Setting("backup_repo"));
  if (!fs::exists(d.repo.Conf())) {
    throw InputError(fmt::format(
        "--backup-repo: {} has no pgbackrest.conf: no backups were configured there (apply "
        "--target local configures them; pass the repository with --backup-repo)",
        d.repo.root.string()));
  }
  return d;
}

using backup::Utc;

// This machine's pgbackrest with the deployment's repository configuration.
class LocalDatabase final : public backup::DatabaseHost {
 public:
  explicit LocalDatabase(BackupRepo repo) : repo_(std::move(repo)) {}
  tools::ToolResult PgBackRest(const std::vector<std::string>& args,
                               std::chrono::seconds timeout) override {
    return local::PgBackRest(repo_, args, timeout);
  }
  std::string LogHint() const override { return (repo_.root / "log").string(); }

 private:
  BackupRepo repo_;
};

// The stanza's backups, oldest first, with the deployment files' archive of each.
std::vector<BackupInfo> ReadBackups(const BackupRepo& repo) {
  LocalDatabase db(repo);
  std::vector<BackupInfo> backups = backup::ReadBackups(db);
  for (BackupInfo& info : backups) {
    const fs::path archive = repo.FilesArchive(info.label);
    std::error_code ec;
    if (fs::exists(archive, ec)) {
      info.files_archive = archive.string();
      info.files_bytes = fs::file_size(archive, ec);
    }
  }
  return backups;
}

// Runs `argv` as root (or us), the files' archive tool.
tools::ToolResult Run(const std::vector<std::string>& argv, const fs::path& cwd,
                      std::chrono::seconds timeout) {
  return tools::RunTool(argv, cwd.string(), timeout);
}

// Whether the answer is yes, as apply decides (driver.cpp): --dry-run stops, --auto-approve goes
// on, a terminal is asked, anything else is refused.
bool Approve(const RestoreRequest& request, const std::string& verb) {
  return ConfirmChanges(request.dry_run, request.auto_approve, verb);
}

const BackupInfo& ChooseBackup(const std::vector<BackupInfo>& backups, const RestoreRequest& r,
                               const std::optional<RecoveryTime>& time) {
  return backup::ChooseBackup(backups, r.backup_id, time, "crmctl backup --dir D");
}

using backup::RecoveryArgs;

void ArchiveCurrentWal(const Deployment& d, Console console) {
  LocalDatabase db(d.repo);
  backup::ArchiveCurrentWal(db, console);
}

// A pg data directory for the postgres user.
void MakePgDir(const fs::path& dir) {
  fs::create_directories(dir);
  ::chmod(dir.c_str(), 0700);
  if (local::AsRoot()) {
    const passwd* pg = ::getpwnam("postgres");
    if (pg == nullptr || ::chown(dir.c_str(), pg->pw_uid, pg->pw_gid) != 0) {
      throw RuntimeError(fmt::format("cannot give {} to the postgres user", dir.string()));
    }
  }
}

// psql's answer to `SELECT pg_is_in_recovery()` from the cluster on `socket`:`port`.
tools::ToolResult InRecovery(const Layout& layout, const fs::path& socket, int port) {
  return local::Pg(layout, "psql",
                   {"-X", "-At", "-h", socket.string(), "-p", std::to_string(port), "-U",
                    local::Superuser(), "-d", "postgres", "-c", "SELECT pg_is_in_recovery()"},
                   30s);
}

// Extracts `members` of the backup's files archive into `into` (created).
void Extract(const BackupInfo& backup, const fs::path& into,
             const std::vector<std::string>& members) {
  if (backup.files_archive.empty()) {
    throw RuntimeError(
        fmt::format("backup {} has no files archive in the repository; restore the database with "
                    "--backup of another backup, or restore files by hand",
                    backup.label));
  }
  fs::create_directories(into);
  std::vector<std::string> argv = {
      "/bin/tar", "-xzf", backup.files_archive, "-C", into.string(), "--same-owner", "-p"};
  argv.insert(argv.end(), members.begin(), members.end());
  const tools::ToolResult r = Run(argv, into, 1800s);
  if (r.exit_code != 0) {
    throw RuntimeError(fmt::format("extracting {} from {} failed (tar exit {}): {}",
                                   fmt::join(members, " "), backup.files_archive, r.exit_code,
                                   r.output));
  }
}

std::string Stamp() {
  return fmt::format("{:%Y%m%d-%H%M%S}", fmt::gmtime(std::time(nullptr)));
}

// --- the whole deployment -----------------------------------------------------------------------

void RestoreDeployment(Deployment& d, const RestoreRequest& request, const BackupInfo& backup,
                       const std::optional<RecoveryTime>& time, Console console) {
  const Layout& layout = d.layout;
  const std::string aside = "before-restore-" + Stamp();
  const std::string point = time ? time->text : "the end of backup " + backup.label;
  std::cout << fmt::format(
      "Restore the local deployment in {} to {} from backup {} ({}, finished {}):\n",
      layout.dir.string(), point, backup.label, backup.type, Utc(backup.stop));
  if (d.purged) {
    std::cout << fmt::format("  + {}/ rebuilt from {} (config, secrets, state, data)\n",
                             layout.dir.string(), backup.files_archive);
  } else {
    std::cout << "  - stop crmd and PostgreSQL\n";
    std::cout << fmt::format("  ~ pg/data and data/ moved aside to pg/data.{} and data.{}\n", aside,
                             aside);
    std::cout << fmt::format("  + data/ from {}\n", backup.files_archive);
  }
  std::cout << fmt::format("  + pg/data restored by pgBackRest and recovered to {}\n", point);
  std::cout << "  + start PostgreSQL and crmd, check /health\n";
  if (!Approve(request, "restore the deployment")) {
    return;
  }
  std::optional<ApplyLock> lock;
  if (!d.purged) {
    lock.emplace(ApplyLock::Acquire(LockPath(layout.dir)));
  }
  std::cout << "\nRestoring:\n";
  const auto started = std::chrono::steady_clock::now();
  if (d.purged) {
    Step step(console.quiet, fmt::format("rebuild {} from the files archive", layout.dir.string()));
    fs::create_directories(layout.dir);
    ::chmod(layout.dir.c_str(), 0755);
    Extract(backup, layout.dir, kArchived);
    d.state = LoadState(StatePath(layout.dir));
    lock.emplace(ApplyLock::Acquire(LockPath(layout.dir)));
    fs::create_directories(layout.Pg());
    MakePgDir(layout.Pg());
    step.Done();
  } else {
    if (time && local::RunningPostgres(layout, nullptr)) {
      // Up to now: the segment in progress is closed and archived while the server still runs.
      ArchiveCurrentWal(d, console);
    }
    {
      Step step(console.quiet, "stop crmd");
      local::StopCrmd(layout);
      step.Done();
    }
    if (local::RunningPostgres(layout, nullptr)) {
      Step step(console.quiet, "stop PostgreSQL");
      local::PgCtl(layout, {"-m", "fast", "-w", "-t", "60", "stop"}, "stop");
      step.Done();
    }
    Step step(console.quiet, "move pg/data and data/ aside");
    std::error_code ec;
    if (fs::exists(layout.PgData())) {
      fs::rename(layout.PgData(), layout.Pg() / ("data." + aside));
    }
    if (fs::exists(layout.Data())) {
      fs::rename(layout.Data(), layout.dir / ("data." + aside));
    }
    step.Done(fmt::format("(delete them once the restore is checked: {}, {})",
                          (layout.Pg() / ("data." + aside)).string(),
                          (layout.dir / ("data." + aside)).string()));
  }
  {
    Step step(console.quiet, fmt::format("pgbackrest restore --set={}", backup.label));
    MakePgDir(layout.PgData());
    std::vector<std::string> args = RecoveryArgs(backup, time);
    args.push_back("--pg1-path=" + layout.PgData().string());
    args.push_back("restore");
    local::PgBackRestOrThrow(d.repo, args, 3600s, "pgbackrest restore");
    step.Done();
  }
  if (!d.purged) {
    Step step(console.quiet, fmt::format("data/ from {}", backup.files_archive));
    Extract(backup, layout.dir, {"data"});
    step.Done();
  }
  const int pg_port = d.PgPort();
  {
    local::RequirePortFree(pg_port, "PostgreSQL");
    Step step(console.quiet,
              fmt::format("start PostgreSQL on 127.0.0.1:{} and recover to {}", pg_port, point));
    // pg_ctl's own limit, not PgCtl's 90 s: replaying a day of WAL takes longer.
    const tools::ToolResult r = local::Pg(
        layout, "pg_ctl",
        {"-D", layout.PgData().string(), "-l", layout.PgLog().string(), "-w", "-t", "600", "start"},
        620s);
    if (r.exit_code != 0) {
      throw RuntimeError(
          fmt::format("PostgreSQL did not start after the restore: {}\n  {} ends "
                      "with:\n{}",
                      r.output, layout.PgLog().string(), local::LogTail(layout.PgLog(), 15)));
    }
    backup::AwaitPromoted([&] { return InRecovery(layout, layout.Pg(), pg_port); }, 600s);
    step.Done();
  }
  {
    Step step(console.quiet, "pgbackrest check (the new timeline archives)");
    local::PgBackRestOrThrow(d.repo, {"check"}, 180s, "checking WAL archiving after the restore");
    step.Done();
  }
  const std::string crmd = d.Setting("crmd").empty() ? FindCrmd("") : d.Setting("crmd");
  std::map<std::string, std::string> env;
  for (const auto& [key, value] :
       ParseEnvFile(ReadFile(layout.dir / local::kCrmdEnv), local::kCrmdEnv)) {
    env[key] = value;
  }
  const std::string url = fmt::format("http://127.0.0.1:{}", d.Setting("http_port"));
  pid_t pid = 0;
  {
    local::RequirePortFree(std::stoi(d.Setting("http_port")), "crmd");
    Step step(console.quiet, fmt::format("start crmd --role all on {}", url));
    pid = local::StartCrmd(layout, crmd, env);
    step.Done(fmt::format("pid {}", pid));
  }
  {
    Step step(console.quiet, "wait for /health");
    local::AwaitHttp(layout, pid, url, "/health", 120s);
    step.Done();
  }
  if (!console.quiet) {
    std::cout << fmt::format("\nRestore complete in {}: {} at {}.\n",
                             FormatSeconds(std::chrono::steady_clock::now() - started), url, point);
  }
}

// --- one tenant ---------------------------------------------------------------------------------

using backup::TenantSlice;

TenantSlice FindSlice(const Deployment& d, const std::string& email) {
  return backup::FindSlice(
      [&](const std::string& sql) {
        return local::Psql(d.layout, d.layout.Pg(), d.PgPort(), backup::kCrmDatabase, sql + ";\n",
                           "finding the tenant's slice", {"-At"});
      },
      email);
}

// A temporary cluster recovered from the repository, stopped and removed when it goes.
class TemporaryCluster final : public backup::ScratchCluster {
 public:
  TemporaryCluster(const Layout& layout, const BackupRepo& repo)
      : layout_(layout), root_(repo.root / fmt::format("tenant-restore-{}", ::getpid())) {
    std::error_code ec;
    fs::remove_all(root_, ec);
    MakePgDir(root_);
    MakePgDir(root_ / "data");
    port_ = FreeLoopbackPort();
  }
  ~TemporaryCluster() override {
    if (started_) {
      local::Pg(layout_, "pg_ctl", {"-D", Data(), "-m", "immediate", "-w", "stop"}, 60s);
    }
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  TemporaryCluster(const TemporaryCluster&) = delete;
  TemporaryCluster& operator=(const TemporaryCluster&) = delete;

  fs::path Root() const { return root_; }
  std::string Data() const override { return (root_ / "data").string(); }
  std::string Where() const override { return fmt::format("on port {}", port_); }

  void Start() override {
    const tools::ToolResult r =
        local::Pg(layout_, "pg_ctl",
                  {"-D", Data(), "-l", (root_ / "postgres.log").string(), "-o",
                   backup::ScratchServerOptions(port_, root_.string()), "-w", "-t", "600", "start"},
                  620s);
    started_ = true;
    if (r.exit_code != 0) {
      throw RuntimeError(fmt::format("the temporary cluster did not start (pg_ctl exit {}): {}\n{}",
                                     r.exit_code, r.output,
                                     local::LogTail(root_ / "postgres.log", 15)));
    }
  }
  tools::ToolResult InRecovery() override { return apply::InRecovery(layout_, root_, port_); }
  std::pair<std::string, std::uint64_t> DumpSchema(const std::string& schema) override {
    const fs::path dump = root_ / (schema + ".sql");
    const tools::ToolResult r =
        local::Pg(layout_, "pg_dump",
                  {"-h", root_.string(), "-p", std::to_string(port_), "-U", local::Superuser(),
                   "-d", backup::kCrmDatabase, "-n", schema, "-f", dump.string()},
                  3600s);
    if (r.exit_code != 0) {
      throw RuntimeError(fmt::format("pg_dump -n {} failed: {}", schema, r.output));
    }
    return {dump.string(), fs::file_size(dump)};
  }

 private:
  Layout layout_;
  fs::path root_;
  int port_ = 0;
  bool started_ = false;
};

// Everything of a slice's directory but its live credentials and socket.
bool KeepLive(const fs::path& name) {
  return name == "db-password" || name == "http.sock";
}

void RestoreTenant(Deployment& d, const RestoreRequest& request, const BackupInfo& backup,
                   const std::optional<RecoveryTime>& time, const SliceControl& slices,
                   Console console) {
  const Layout& layout = d.layout;
  if (d.purged || !local::RunningPostgres(layout, nullptr)) {
    throw InputError(
        "--tenant: the deployment must run (its other tenants stay live); restore the whole "
        "deployment, or apply it first",
        "tenant");
  }
  if (!local::RunningCrmd(layout, nullptr)) {
    throw InputError("--tenant: crmd must run: the slice is suspended and resumed through it",
                     "tenant");
  }
  const TenantSlice slice = FindSlice(d, request.tenant);
  const std::string point = time ? time->text : "the end of backup " + backup.label;
  backup::PrintTenantPlan(
      request.tenant, slice, backup,
      {fmt::format("the local deployment in {}", layout.dir.string()), point, "on another port",
       fmt::format("~ data/slices/{}/ from {}", slice.id, backup.files_archive)});
  if (!Approve(request, "restore this tenant")) {
    return;
  }
  const ApplyLock lock = ApplyLock::Acquire(LockPath(layout.dir));
  std::cout << "\nRestoring:\n";
  const auto started = std::chrono::steady_clock::now();
  if (time) {
    ArchiveCurrentWal(d, console);
  }
  TemporaryCluster temp(layout, d.repo);
  LocalDatabase db(d.repo);
  const std::string dump = backup::DumpAsOf(db, temp, backup, time, slice, console);
  // The files come out of the archive before anything live changes.
  const fs::path files = temp.Root() / "files";
  {
    Step step(console.quiet, fmt::format("data/slices/{} from {}", slice.id, backup.files_archive));
    Extract(backup, files, {fmt::format("data/slices/{}", slice.id)});
    step.Done();
  }
  backup::ReplaceWhileSuspended(slice, d.Admin(), slices, console, [&] {
    {
      Step step(console.quiet, fmt::format("replace schema {} (one transaction)", slice.Role()));
      local::Psql(layout, layout.Pg(), d.PgPort(), backup::kCrmDatabase,
                  backup::ReplaceSchemaSql(slice, dump), "replacing the schema",
                  {"--single-transaction", "-f", "-"});
      step.Done();
    }
    Step step(console.quiet, fmt::format("replace data/slices/{}", slice.id));
    const fs::path live = layout.Data() / "slices" / std::to_string(slice.id);
    const fs::path restored = files / "data" / "slices" / std::to_string(slice.id);
    fs::create_directories(live);
    for (const auto& entry : fs::directory_iterator(live)) {
      if (!KeepLive(entry.path().filename())) {
        fs::remove_all(entry.path());
      }
    }
    for (const auto& entry : fs::directory_iterator(restored)) {
      if (!KeepLive(entry.path().filename())) {
        // Copied, not renamed: the repository may be on another file system.
        fs::copy(entry.path(), live / entry.path().filename(),
                 fs::copy_options::recursive | fs::copy_options::copy_symlinks);
      }
    }
    step.Done();
  });
  backup::PrintTenantRestored(request.tenant, started, point, console);
}

}  // namespace

namespace local {

std::optional<std::pair<std::string, std::time_t>> NewestBackup(const BackupRepo& repo) {
  const std::vector<BackupInfo> backups = ReadBackups(repo);
  if (backups.empty()) {
    return std::nullopt;
  }
  return std::make_pair(backups.back().label, backups.back().stop);
}

}  // namespace local

RecoveryTime ParseRecoveryTime(const std::string& text) {
  static const std::regex kForm(
      R"(^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?(Z|[+-]\d{2}(:?\d{2})?)$)");
  std::smatch m;
  if (!std::regex_match(text, m, kForm)) {
    throw InputError(fmt::format("--time: '{}' is not a point in time with a zone, e.g. "
                                 "'2026-11-30 08:50:00+00' or 2026-11-30T08:50:00.123Z",
                                 text),
                     "time");
  }
  std::tm tm{};
  tm.tm_year = std::stoi(m[1]) - 1900;
  tm.tm_mon = std::stoi(m[2]) - 1;
  tm.tm_mday = std::stoi(m[3]);
  tm.tm_hour = std::stoi(m[4]);
  tm.tm_min = std::stoi(m[5]);
  tm.tm_sec = std::stoi(m[6]);
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 60) {
    throw InputError(fmt::format("--time: '{}' is not a valid date and time", text), "time");
  }
  double epoch = static_cast<double>(::timegm(&tm));
  if (m[7].matched) {
    epoch += std::stod("0" + m[7].str());
  }
  std::string zone = m[8].str();
  if (zone == "Z") {
    zone = "+00";
  } else {
    const int sign = zone[0] == '-' ? -1 : 1;
    const int hours = std::stoi(zone.substr(1, 2));
    const std::string rest = m[9].matched ? m[9].str() : "";
    const int minutes = rest.empty() ? 0 : std::stoi(rest.substr(rest.size() - 2));
    epoch -= sign * (hours * 3600.0 + minutes * 60.0);
  }
  RecoveryTime t;
  t.epoch = epoch;
  t.text = fmt::format("{}-{}-{} {}:{}:{}{}{}", m[1].str(), m[2].str(), m[3].str(), m[4].str(),
                       m[5].str(), m[6].str(), m[7].str(), zone);
  return t;
}

std::vector<BackupInfo> ListBackups(const BackupTarget& target) {
  const Deployment d = Open(target);
  return ReadBackups(d.repo);
}

BackupInfo TakeBackup(const BackupTarget& target, const std::string& type, Console console) {
  if (type != "full" && type != "diff" && type != "incr") {
    throw InputError(fmt::format("--type: '{}'; expected full, diff or incr", type), "type");
  }
  const Deployment d = Open(target);
  if (d.purged) {
    throw InputError(fmt::format("--dir: {} has no state.json: nothing was applied there",
                                 d.layout.dir.string()));
  }
  if (!local::RunningPostgres(d.layout, nullptr)) {
    throw InputError(fmt::format(
        "PostgreSQL of {} is not running; `crmctl apply --target local --dir {}` starts it",
        d.layout.dir.string(), d.layout.dir.string()));
  }
  const ApplyLock lock = ApplyLock::Acquire(LockPath(d.layout.dir));
  const auto started = std::chrono::steady_clock::now();
  if (!console.quiet) {
    std::cout << fmt::format("Backup of {} into {}:\n", d.layout.dir.string(),
                             d.repo.root.string());
  }
  {
    Step step(console.quiet, fmt::format("pgbackrest backup --type={}", type));
    local::PgBackRestOrThrow(d.repo, {"--type=" + type, "backup"}, 7200s, "the backup");
    step.Done();
  }
  std::vector<BackupInfo> backups = ReadBackups(d.repo);
  if (backups.empty()) {
    throw RuntimeError("pgbackrest backup succeeded but info lists no backup");
  }
  BackupInfo& newest = backups.back();
  {
    Step step(console.quiet, fmt::format("files ({}) → files/{}.tar.gz", fmt::join(kArchived, ", "),
                                         newest.label));
    const fs::path archive = d.repo.FilesArchive(newest.label);
    const fs::path partial = archive.string() + ".partial";
    std::vector<std::string> argv = {"/bin/tar",
                                     "-czf",
                                     partial.string(),
                                     "-C",
                                     d.layout.dir.string(),
                                     "--warning=no-file-changed",
                                     "--warning=no-file-removed",
                                     "--exclude=*.sock"};
    for (const std::string& member : kArchived) {
      if (fs::exists(d.layout.dir / member)) {
        argv.push_back(member);
      }
    }
    const tools::ToolResult r = Run(argv, d.layout.dir, 3600s);
    // tar exits 1 when a file changed while it was read: slices keep running during a backup.
    if (r.exit_code != 0 && r.exit_code != 1) {
      throw RuntimeError(
          fmt::format("tar of the files failed (exit {}): {}", r.exit_code, r.output));
    }
    ::chmod(partial.c_str(), 0600);
    fs::rename(partial, archive);
    newest.files_archive = archive.string();
    newest.files_bytes = fs::file_size(archive);
    step.Done(crm::FormatBytes(static_cast<double>(newest.files_bytes)));
  }
  {
    // pgBackRest expired what retention let go; their files go with them.
    std::size_t removed = 0;
    for (const auto& entry : fs::directory_iterator(d.repo.Files())) {
      const std::string name = entry.path().filename().string();
      const bool kept = std::any_of(backups.begin(), backups.end(), [&](const BackupInfo& b) {
        return name == b.label + ".tar.gz";
      });
      if (!kept && name.ends_with(".tar.gz")) {
        fs::remove(entry.path());
        ++removed;
      }
    }
    if (removed > 0 && !console.quiet) {
      std::cout << fmt::format("  removed the files of {} expired backup(s)\n", removed);
    }
  }
  backup::PrintBackupTaken(newest, started, console);
  return newest;
}

void Restore(const RestoreRequest& request, Console console, const SliceControl& slices) {
  if (request.time.empty() == request.backup_id.empty()) {
    throw InputError("--time or --backup: exactly one says what to restore to", "time");
  }
  std::optional<RecoveryTime> time;
  if (!request.time.empty()) {
    time = ParseRecoveryTime(request.time);
  }
  Deployment d = Open(request.target);
  const std::vector<BackupInfo> backups = ReadBackups(d.repo);
  const BackupInfo& backup = ChooseBackup(backups, request, time);
  if (request.tenant.empty()) {
    RestoreDeployment(d, request, backup, time, console);
  } else {
    RestoreTenant(d, request, backup, time, slices, console);
  }
}

}  // namespace crm::apply
