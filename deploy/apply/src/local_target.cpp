// The local target's plan: the vps rendering with this deployment's ports and paths, what runs
// now, and what has to be checked or generated before approval.
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "crm/apply/config_text.hpp"
#include "crm/error.hpp"
#include "crm/files.hpp"
#include "crm/ports.hpp"
#include "crm/render/render.hpp"
#include "local_deployment.hpp"

namespace crm::apply {

namespace fs = std::filesystem;

namespace local {
namespace {

constexpr int kDefaultHttpPort = 8080;

fs::path Absolute(const std::string& dir) {
  if (dir.empty()) {
    throw InputError("--dir: required (the deployment directory)");
  }
  return fs::weakly_canonical(fs::absolute(dir));
}

// KEY's value in env-file text, or "" when absent.
std::string EnvValue(const std::string& text, const std::string& key) {
  for (const auto& [k, v] : ParseEnvFile(text, kCrmdEnv)) {
    if (k == key) {
      return v;
    }
  }
  return "";
}

std::string FindRendered(const render::Rendering& rendering, const std::string& path) {
  for (const render::RenderedFile& f : rendering.files) {
    if (f.path == path) {
      return f.content;
    }
  }
  throw RuntimeError(fmt::format("the vps rendering has no {}: cannot run it locally", path));
}

// What crmctl knows about the binary without reading 70 MB: a rebuild changes it.
std::string BinaryFingerprint(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw RuntimeError(fmt::format("{}: {}", path, std::strerror(errno)));
  }
  return fmt::format("{} size={} mtime={}.{:09d}", path, st.st_size, st.st_mtim.tv_sec,
                     st.st_mtim.tv_nsec);
}

// The ports asked for, else the ones recorded, else crmd's default (or any free one with
// --port 0) and a free one for PostgreSQL.
void ChoosePorts(Desired& d, const LocalOptions& options, const DeploymentState& recorded) {
  const auto setting = [&](const char* key) -> int {
    const auto it = recorded.settings.find(key);
    return it == recorded.settings.end() ? 0 : std::stoi(it->second);
  };
  d.http_port = options.port > 0       ? options.port
                : setting("http_port") ? setting("http_port")
                : options.port == 0    ? FreeLoopbackPort()
                                       : kDefaultHttpPort;
  d.pg_port = options.pg_port > 0  ? options.pg_port
              : setting("pg_port") ? setting("pg_port")
                                   : FreeLoopbackPort();
}

// The backup repository and retention asked for, else the ones recorded, else the defaults.
void ChooseBackups(Desired& d, const Layout& layout, const LocalOptions& options,
                   const DeploymentState& recorded) {
  const auto setting = [&](const char* key) {
    const auto it = recorded.settings.find(key);
    return it == recorded.settings.end() ? std::string() : it->second;
  };
  d.backup_repo = ChooseBackupRepo(layout, options.backup_repo, setting("backup_repo")).root;
  if (options.backup_retention_full < 0 || options.backup_retention_full > 100) {
    throw InputError(fmt::format("--backup-retention: {} full backups; expected 1-100",
                                 options.backup_retention_full));
  }
  d.retention_full = options.backup_retention_full > 0 ? options.backup_retention_full
                     : !setting("backup_retention_full").empty()
                         ? std::stoi(setting("backup_retention_full"))
                         : kDefaultRetentionFull;
}

// The rendered PostgreSQL settings with this deployment's port, socket directory and hba_file,
// and WAL archiving into the backup repository.
std::string PostgresConf(const render::Rendering& rendering, const Layout& layout, int pg_port,
                         const BackupRepo& repo) {
  std::string conf = FindRendered(rendering, "etc/postgresql/15/main/conf.d/crm.conf");
  conf =
      "# crmctl apply --target local: the rendered settings, with this deployment's port,\n"
      "# socket directory and hba_file.\n" +
      conf;
  conf = SetConfValue(conf, "listen_addresses", "'127.0.0.1'");
  conf = SetConfValue(conf, "port", std::to_string(pg_port));
  conf = SetConfValue(conf, "unix_socket_directories", QuoteConf(layout.Pg().string()));
  conf = SetConfValue(conf, "archive_mode", "on");
  conf = SetConfValue(conf, "archive_command", QuoteConf(ArchiveCommand(repo)));
  // A quiet server still closes a WAL segment every minute: the recovery point is a minute old
  // at worst.
  conf = SetConfValue(conf, "archive_timeout", "60");
  return SetConfValue(conf, "hba_file", QuoteConf((layout.dir / kPgHba).string()));
}

// The rendered crmd.env pointing at this deployment's database, port and data directory.
std::string CrmdEnv(const render::Rendering& rendering, const Layout& layout, const Desired& d) {
  std::string env = FindRendered(rendering, "etc/crmd/crmd.env");
  env = SetEnvValue(env, "CRM_DATABASE_URL",
                    fmt::format("postgresql://crm@127.0.0.1:{}/crm", d.pg_port));
  env = SetEnvValue(env, "CRM_DATABASE_PASSWORD_FILE", layout.DbPassword().string());
  env = SetEnvValue(env, "CRM_LISTEN", fmt::format("127.0.0.1:{}", d.http_port));
  env = SetEnvValue(env, "CRM_DATA_DIR", layout.Data().string());
  // The monitor reads the newest backup's age from the deployment's own repository; nothing
  // schedules `crmctl backup now` here, so backup_stale says when a day has passed without one.
  env = SetEnvValue(env, "CRM_BACKUP_STANZA", kStanza);
  env = SetEnvValue(env, "CRM_PGBACKREST_CONFIG", BackupRepo{d.backup_repo}.Conf().string());
  env = SetEnvValue(env, "CRM_BACKUP_MAX_AGE", "26h");
  // No TLS nginx in front: the public URL is derived from the listen address (browsers on
  // http://127.0.0.1 or localhost), and every peer is a client, none a proxy to believe.
  env = RemoveEnvValue(env, "CRM_PUBLIC_URL");
  env = RemoveEnvValue(env, "CRM_TRUSTED_PROXIES");
  // The web app: crmd finds it beside its own binary (a build tree's web/, an installed
  // ../share/crmd/web), not where a packaged server keeps it.
  env = RemoveEnvValue(env, "CRM_WEB_ROOT");
  // Stripe and WhatsApp secrets: the local deployment runs without them (simulator channel).
  for (const auto& [key, value] : ParseEnvFile(env, kCrmdEnv)) {
    if (key.ends_with("_FILE") && key != "CRM_DATABASE_PASSWORD_FILE") {
      env = RemoveEnvValue(env, key);
    }
  }
  return env;
}

Desired BuildDesired(const planner::Plan& plan, const Layout& layout, const LocalOptions& options,
                     const DeploymentState& recorded, const std::string& crmd) {
  Desired d;
  d.crmd = crmd;
  ChoosePorts(d, options, recorded);
  ChooseBackups(d, layout, options, recorded);
  render::RenderOptions render_options;
  render_options.domain = "localhost";
  render_options.version = CRM_VERSION;
  const render::Rendering rendering =
      render::Render(plan, render::RenderTarget::kVps, render_options);
  const std::string conf = PostgresConf(rendering, layout, d.pg_port, {d.backup_repo});
  const std::string hba = FindRendered(rendering, "etc/postgresql/15/main/pg_hba.conf");
  const std::string env = CrmdEnv(rendering, layout, d);
  for (const auto& [key, value] : ParseEnvFile(env, kCrmdEnv)) {
    d.crmd_env[key] = value;
  }

  d.host.name = kHost;
  d.host.files = {{kCrmdEnv, env, 0600}, {kPgHba, hba, 0644}, {kPgConf, conf, 0644}};
  DesiredService postgres;
  postgres.name = "postgres";
  postgres.inputs = {{kPgConf, render::Sha256Hex(conf)}, {kPgHba, render::Sha256Hex(hba)}};
  postgres.reload_inputs = {kPgHba};
  DesiredService crmd_service;
  crmd_service.name = "crmd";
  crmd_service.inputs = {{kCrmdEnv, render::Sha256Hex(env)}, {"binary", BinaryFingerprint(crmd)}};
  d.host.services = {postgres, crmd_service};
  return d;
}

}  // namespace

std::string Desired::Url() const {
  return fmt::format("http://127.0.0.1:{}", http_port);
}

LocalTarget::LocalTarget(const LocalOptions& options, Console console)
    : options_(options), console_(console), layout_{Absolute(options.dir)} {}

// What apply needs of this machine before anything is planned.
void LocalTarget::CheckMachine() const {
  for (int port : {options_.port, options_.pg_port}) {
    if (port < -1 || port > 65535) {
      throw InputError(
          fmt::format("--port/--pg-port: {} is not a TCP port (1-65535, 0 = any free)", port));
    }
  }
  if (!fs::exists(fmt::format("{}/postgres", kPgBin))) {
    throw RuntimeError(fmt::format(
        "PostgreSQL 15 is not installed ({}/postgres is missing); scripts/bootstrap installs it",
        kPgBin));
  }
  if (!tools::FindTool("pgbackrest")) {
    throw RuntimeError(
        "pgbackrest is not installed (Debian's pgbackrest package; scripts/bootstrap installs it): "
        "a local deployment archives its WAL with it");
  }
  // The socket path must fit sockaddr_un (107 bytes).
  if ((layout_.Pg() / ".s.PGSQL.65535").string().size() > 107) {
    throw InputError(fmt::format(
        "--dir: {} is too long for PostgreSQL's Unix socket path (at most 107 bytes with "
        "pg/.s.PGSQL.PORT); choose a shorter directory",
        layout_.dir.string()));
  }
  CheckPostgresCanReach(layout_.dir);
}

std::vector<DesiredHost> LocalTarget::Desire(const planner::Plan& plan,
                                             const DeploymentState& recorded) {
  const std::string crmd = FindCrmd(options_.crmd);
  CheckMachine();
  tier_id_ = plan.tier->id;
  tier_name_ = plan.tier->name;
  desired_ = BuildDesired(plan, layout_, options_, recorded, crmd);
  RefuseAnotherClustersStanza();
  return {desired_.host};
}

// The stanza is made for one PostgreSQL cluster (its system id): a cluster this apply would create
// cannot archive into a stanza an earlier deployment left (`destroy --purge` keeps the
// repository). Unrefused, apply skipped the existing stanza, every WAL segment failed to archive
// and piled up in pg/data, and the first backup failed with pgBackRest's system-id mismatch.
void LocalTarget::RefuseAnotherClustersStanza() const {
  const BackupRepo repo{desired_.backup_repo};
  if (fs::exists(layout_.PgData() / "PG_VERSION") || !StanzaExists(repo)) {
    return;
  }
  throw InputError(fmt::format(
      "the backup repository {} holds the backups of an earlier deployment (stanza {}), and this "
      "apply would create a new PostgreSQL cluster, whose WAL that stanza refuses. To bring the "
      "earlier deployment back: crmctl restore --dir {} --time T (or --backup LABEL; a purged "
      "directory is rebuilt from the backup). To start afresh: move {} aside (keep it while its "
      "backups are wanted) or choose another with --backup-repo, then apply again",
      repo.root.string(), kStanza, layout_.dir.string(), repo.root.string()));
}

std::map<std::string, ObservedHost> LocalTarget::Observe(const DeploymentState& recorded) {
  ObservedHost obs;
  for (const DesiredFile& f : desired_.host.files) {
    obs.files[f.path] = ReadFileIfExists(layout_.dir / f.path);
  }
  if (const auto it = recorded.hosts.find(kHost); it != recorded.hosts.end()) {
    for (const auto& [path, record] : it->second.files) {
      obs.files[path] = ReadFileIfExists(layout_.dir / path);
    }
  }
  std::string why;
  obs.running["postgres"] = RunningPostgres(layout_, &why).has_value();
  if (!obs.running["postgres"]) {
    obs.why_not_running["postgres"] = why;
  }
  obs.running["crmd"] = RunningCrmd(layout_, &why).has_value();
  if (!obs.running["crmd"]) {
    obs.why_not_running["crmd"] = why;
  }
  return {{kHost, obs}};
}

std::string LocalTarget::Heading() const {
  return fmt::format("Local deployment in {} (tier {} {}, crmd {}):\n", layout_.dir.string(),
                     tier_id_, tier_name_, desired_.crmd);
}

PlanReview LocalTarget::Review(PlanDiff& diff, bool /*dry_run*/) {
  // Things with no content to compare: generated once.
  need_db_password_ = !fs::exists(layout_.DbPassword());
  need_admin_ = !fs::exists(layout_.AdminPassword());
  need_backup_repo_ =
      !StanzaExists({desired_.backup_repo}) || !fs::exists(BackupRepo{desired_.backup_repo}.Conf());
  if (need_db_password_) {
    diff.changes.push_back(
        {ChangeKind::kAdd, kHost, false, "secrets/db_password", "(generated, mode 0600)", {}, {}});
  }
  if (need_admin_) {
    diff.changes.push_back({ChangeKind::kAdd,
                            kHost,
                            false,
                            "secrets/admin-password",
                            fmt::format("(generated; admin account {})", options_.admin_email),
                            {},
                            {}});
  }
  if (need_backup_repo_) {
    diff.changes.push_back(
        {ChangeKind::kAdd,
         kHost,
         false,
         desired_.backup_repo + "/",
         fmt::format("(backup repository: pgBackRest stanza {}, aes-256-cbc, {} full kept)",
                     kStanza, desired_.retention_full),
         {},
         {}});
  }
  // Ports first: a clear error before anything is changed.
  const Change* pg_change = diff.Find(kHost, true, "postgres");
  const Change* crmd_change = diff.Find(kHost, true, "crmd");
  if (pg_change != nullptr && pg_change->action == ServiceAction::kStart) {
    RequirePortFree(desired_.pg_port, "PostgreSQL");
  }
  const bool crmd_port_moves =
      crmd_change != nullptr && crmd_change->action == ServiceAction::kRestart &&
      desired_.crmd_env.at("CRM_LISTEN") !=
          EnvValue(ReadFileIfExists(layout_.dir / kCrmdEnv).value_or(""), "CRM_LISTEN");
  if ((crmd_change != nullptr && crmd_change->action == ServiceAction::kStart) || crmd_port_moves) {
    RequirePortFree(desired_.http_port, "crmd");
  }
  PlanReview review;
  review.up_to_date = fmt::format("No changes. The deployment is up to date: {}\n", desired_.Url());
  return review;
}

std::string LocalTarget::AdminHint(const std::string& email) const {
  return fmt::format("{}, password in {}", email, layout_.AdminPassword().string());
}

std::string LocalTarget::Closing() const {
  return fmt::format(
      "Open {}  (admin {})\n"
      "Status: crmctl status --dir {}    Stop: crmctl destroy --dir {}\n",
      desired_.Url(), AdminHint(admin_email_), layout_.dir.string(), layout_.dir.string());
}

}  // namespace local

std::unique_ptr<DeployTarget> MakeLocalTarget(const LocalOptions& options, Console console) {
  return std::make_unique<local::LocalTarget>(options, console);
}

std::string FindCrmd(const std::string& given) {
  if (!given.empty()) {
    if (::access(given.c_str(), X_OK) != 0 || !fs::is_regular_file(given)) {
      throw InputError(fmt::format("--crmd: {} is not an executable file", given));
    }
    return fs::absolute(given).string();
  }
  std::vector<fs::path> candidates;
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    candidates.push_back(self.parent_path() / "crmd");
    // The build tree: build/<preset>/cli/crmctl next to build/<preset>/runtime/crmd/crmd.
    candidates.push_back(self.parent_path().parent_path() / "runtime" / "crmd" / "crmd");
  }
  for (const fs::path& c : candidates) {
    if (::access(c.c_str(), X_OK) == 0 && fs::is_regular_file(c)) {
      return c.string();
    }
  }
  if (auto on_path = tools::FindTool("crmd")) {
    return *on_path;
  }
  throw RuntimeError(fmt::format(
      "crmd not found next to crmctl, in the build tree ({}) or on PATH; build it (scripts/build) "
      "or pass --crmd PATH",
      candidates.empty() ? std::string("?") : candidates.back().string()));
}

}  // namespace crm::apply
