// The local target's insides (private to crm_apply): where everything of a local deployment
// lives, its two processes (PostgreSQL, crmd), and the target itself, whose methods are spread
// over local_target.cpp (plan), local_converge.cpp (apply's steps) and local_status.cpp
// (status, destroy).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "crm/apply/local_target.hpp"
#include "crm/apply/target.hpp"
#include "crm/tools/tool_runner.hpp"

namespace crm::apply::local {

inline constexpr const char* kHost = "local";
inline constexpr const char* kPgBin = "/usr/lib/postgresql/15/bin";
inline constexpr const char* kPgConf = "config/postgresql.conf";
inline constexpr const char* kPgHba = "config/pg_hba.conf";
inline constexpr const char* kCrmdEnv = "config/crmd.env";

// Where everything of a local deployment lives.
struct Layout {
  std::filesystem::path dir;
  std::filesystem::path Pg() const { return dir / "pg"; }
  std::filesystem::path PgData() const { return dir / "pg" / "data"; }
  std::filesystem::path PgLog() const { return dir / "pg" / "postgres.log"; }
  std::filesystem::path Data() const { return dir / "data"; }
  std::filesystem::path Secrets() const { return dir / "secrets"; }
  std::filesystem::path DbPassword() const { return dir / "secrets" / "db_password"; }
  std::filesystem::path AdminPassword() const { return dir / "secrets" / "admin-password"; }
  std::filesystem::path BackupPassphrase() const { return dir / "secrets" / "backup-passphrase"; }
  std::filesystem::path CrmdPid() const { return dir / "crmd.pid"; }
  std::filesystem::path CrmdLog() const { return dir / "crmd.log"; }
};

// --- local_processes.cpp: PostgreSQL and crmd as processes of this machine.

bool AsRoot();
/// The cluster's superuser: initdb names it after the OS user that runs the server.
std::string Superuser();
/// `s` as a single-quoted string of postgresql.conf and SQL ('' for ').
std::string QuoteConf(const std::string& s);
/// 48 hex digits from /dev/urandom.
std::string RandomSecret();
/// The last `lines` lines of a log file, indented ("" when it cannot be read), for errors.
std::string LogTail(const std::filesystem::path& path, int lines);
/// Throws RuntimeError naming what holds 127.0.0.1:`port`, which `who` needs.
void RequirePortFree(int port, const std::string& who);

/// `text` without the blanks and line ends around it (a tool's one-line answer, a secret file).
std::string TrimLine(const std::string& text);
/// Whether `pid` still runs (a zombie does not).
bool Alive(pid_t pid);
/// crmd as we start it ("…/crmd --role all"), or nullopt with the reason in `why`.
std::optional<pid_t> RunningCrmd(const Layout& layout, std::string* why);
/// The postmaster of the deployment's cluster, or nullopt with the reason in `why`.
std::optional<pid_t> RunningPostgres(const Layout& layout, std::string* why);
/// PostgreSQL refuses to start while the pid in postmaster.pid exists, and a killed postmaster
/// stays a zombie until its parent reaps it: waits up to 30 s.
void AwaitPostmasterReaped(const std::filesystem::path& pidfile);
/// Runs a PostgreSQL tool of kPgBin as the postgres user when we are root.
tools::ToolResult Pg(const Layout& layout, const std::string& tool, std::vector<std::string> args,
                     std::chrono::seconds timeout, std::optional<std::string> input = std::nullopt);
/// pg_ctl -D PGDATA `args`; throws RuntimeError with the server log's tail when it fails.
void PgCtl(const Layout& layout, const std::vector<std::string>& args, const std::string& what);
/// Every ancestor of `dir` must be searchable by the postgres user (when we are root).
void CheckPostgresCanReach(const std::filesystem::path& dir);
/// SIGTERM to crmd, then what is left of its process group; removes its pid file.
void StopCrmd(const Layout& layout);
/// Polls GET url+path until 200, or throws naming what happened (crmd exited: its log).
void AwaitHttp(const Layout& layout, pid_t pid, const std::string& url, const std::string& path,
               std::chrono::seconds limit);

/// psql -X -q -v ON_ERROR_STOP=1 `extra` as the superuser on the cluster listening in
/// `socket_dir`:`port`, database `db`, with `sql` on stdin; returns its output. Throws
/// RuntimeError naming `what` when it fails.
std::string Psql(const Layout& layout, const std::filesystem::path& socket_dir, int port,
                 const std::string& db, const std::string& sql, const std::string& what,
                 const std::vector<std::string>& extra = {});
/// Starts `crmd --role all` detached with `env` (and none of the operator's CRM_ settings) and
/// records its pid file; returns its pid.
pid_t StartCrmd(const Layout& layout, const std::string& crmd,
                const std::map<std::string, std::string>& env);

// --- local_backup_repo.cpp: the pgBackRest repository of a local deployment.

inline constexpr const char* kStanza = "crm";
inline constexpr int kDefaultRetentionFull = 2;

// Where a deployment's backups live, outside its directory so `destroy --purge` keeps them.
struct BackupRepo {
  std::filesystem::path root;
  std::filesystem::path Conf() const { return root / "pgbackrest.conf"; }
  std::filesystem::path Repo() const { return root / "pgbackrest"; }
  std::filesystem::path Files() const { return root / "files"; }
  std::filesystem::path FilesArchive(const std::string& label) const {
    return root / "files" / (label + ".tar.gz");
  }
};

/// `given`, else the recorded setting, else `<dir>.backups`.
BackupRepo ChooseBackupRepo(const Layout& layout, const std::string& given,
                            const std::string& recorded);
/// PostgreSQL's archive_command for the repository.
std::string ArchiveCommand(const BackupRepo& repo);
/// The repository's cipher passphrase: secrets/backup-passphrase, else the one the repository's
/// configuration holds (a purged deployment applied again must read its old backups), else new.
std::string BackupPassphrase(const Layout& layout, const BackupRepo& repo);
/// Creates the repository's directories (for the postgres user) and writes its configuration.
void WriteBackupConfig(const Layout& layout, const BackupRepo& repo, const std::string& passphrase,
                       int pg_port, int retention_full);
/// Whether the stanza was created in the repository.
bool StanzaExists(const BackupRepo& repo);
/// pgbackrest --config=REPO/pgbackrest.conf --stanza=crm ARGS, as the postgres user when root.
tools::ToolResult PgBackRest(const BackupRepo& repo, const std::vector<std::string>& args,
                             std::chrono::seconds timeout);
/// Runs PgBackRest and throws RuntimeError with its output unless it exits 0.
std::string PgBackRestOrThrow(const BackupRepo& repo, const std::vector<std::string>& args,
                              std::chrono::seconds timeout, const std::string& what);

/// The newest backup's label and stop time (seconds since the epoch), nullopt when there is
/// none (local_backup.cpp). Throws RuntimeError when pgbackrest fails.
std::optional<std::pair<std::string, std::time_t>> NewestBackup(const BackupRepo& repo);

// --- The target.

// What the plan asks of this machine: ports, the crmd binary, files and services.
struct Desired {
  int http_port = 0;
  int pg_port = 0;
  std::string crmd;
  std::string backup_repo;
  int retention_full = kDefaultRetentionFull;
  DesiredHost host;
  std::map<std::string, std::string> crmd_env;
  std::string Url() const;
};

class LocalTarget final : public DeployTarget {
 public:
  LocalTarget(const LocalOptions& options, Console console);

  std::string_view Kind() const override { return "local"; }
  const std::filesystem::path& Dir() const override { return layout_.dir; }
  std::vector<DesiredHost> Desire(const planner::Plan& plan,
                                  const DeploymentState& recorded) override;
  std::map<std::string, ObservedHost> Observe(const DeploymentState& recorded) override;
  std::string Heading() const override;
  PlanReview Review(PlanDiff& diff, bool dry_run) override;
  void Converge(const PlanDiff& diff, DeploymentState& state,
                const std::function<void()>& save) override;
  std::string Closing() const override;
  StatusReport Status(const DeploymentState& recorded, const SliceCounter& count_slices) override;
  TeardownPlan PlanTeardown(DeploymentState& recorded, bool purge) override;
  void Teardown(const TeardownPlan& plan, DeploymentState& state) override;

 private:
  void CheckMachine() const;
  /// Refuses (InputError) an apply that would create a cluster while the backup repository holds
  /// another cluster's stanza.
  void RefuseAnotherClustersStanza() const;
  // Converge's steps (local_converge.cpp), in order.
  void PrepareDirectories(DeploymentState& state, const std::function<void()>& save);
  void WriteConfiguration(const PlanDiff& diff, DeploymentState& state,
                          const std::function<void()>& save);
  bool InitCluster();
  void ConvergePostgres(const PlanDiff& diff);
  void CreateDatabase(DeploymentState& state);
  void MigrateAndCreateAdmin(DeploymentState& state, const std::function<void()>& save);
  void ConfigureBackups();
  void CreateStanza();
  void ConvergeCrmd(const PlanDiff& diff);
  void RecordService(DeploymentState& state, const std::string& name) const;
  std::string AdminHint(const std::string& email) const;

  LocalOptions options_;
  Console console_;
  Layout layout_;
  // Set by Desire and Review.
  int tier_id_ = 0;
  std::string tier_name_;
  Desired desired_;
  bool need_db_password_ = false;
  bool need_admin_ = false;
  bool need_backup_repo_ = false;
  std::string admin_email_;  // the account's, once Converge created or found it
};

}  // namespace crm::apply::local
