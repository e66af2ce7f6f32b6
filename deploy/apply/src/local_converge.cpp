// The local target's apply, step by step: directories and secrets, configuration files, the
// PostgreSQL cluster (initdb, start/restart/reload, the crm database), crmd (migrate, the admin
// account, start and wait until it is healthy and ready).
#include <fmt/format.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "crm/apply/step.hpp"
#include "crm/error.hpp"
#include "crm/files.hpp"
#include "crm/render/render.hpp"
#include "local_deployment.hpp"

namespace crm::apply::local {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using tools::ProcessSpec;
using tools::ToolResult;

ServiceAction ActionOf(const PlanDiff& diff, const std::string& service) {
  const Change* change = diff.Find(kHost, true, service);
  return change != nullptr ? change->action : ServiceAction::kNone;
}

std::string SummaryOf(const PlanDiff& diff, const std::string& service) {
  const Change* change = diff.Find(kHost, true, service);
  return change != nullptr ? change->summary : std::string();
}

// `crmd ARGS` with the deployment's environment only (never the operator's CRM_ settings).
ToolResult RunCrmd(const Desired& desired, const std::vector<std::string>& args,
                   std::chrono::seconds timeout, std::optional<std::string> input = std::nullopt) {
  ProcessSpec spec;
  spec.argv = {desired.crmd};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.env = desired.crmd_env;
  spec.drop_env_prefix = "CRM_";
  spec.timeout = timeout;
  spec.input = std::move(input);
  return tools::RunProcess(spec);
}

}  // namespace

void LocalTarget::Converge(const PlanDiff& diff, DeploymentState& state,
                           const std::function<void()>& save) {
  PrepareDirectories(state, save);
  ConfigureBackups();
  WriteConfiguration(diff, state, save);
  const bool bootstrapped = InitCluster();
  ConvergePostgres(diff);
  CreateStanza();
  if (bootstrapped || need_db_password_ || state.settings["database"] != "crm") {
    CreateDatabase(state);
  }
  RecordService(state, "postgres");
  save();
  MigrateAndCreateAdmin(state, save);
  ConvergeCrmd(diff);
  RecordService(state, "crmd");
  save();
  admin_email_ = state.settings["admin_email"];
}

void LocalTarget::PrepareDirectories(DeploymentState& state, const std::function<void()>& save) {
  state.settings["http_port"] = std::to_string(desired_.http_port);
  state.settings["pg_port"] = std::to_string(desired_.pg_port);
  state.settings["crmd"] = desired_.crmd;
  state.settings["backup_repo"] = desired_.backup_repo;
  state.settings["backup_retention_full"] = std::to_string(desired_.retention_full);
  Step step(console_.quiet, "directories and secrets");
  for (const fs::path& d : {layout_.dir / "config", layout_.Data()}) {
    fs::create_directories(d);
    ::chmod(d.c_str(), 0755);
  }
  fs::create_directories(layout_.Secrets());
  ::chmod(layout_.Secrets().c_str(), 0700);
  fs::create_directories(layout_.Pg());
  ::chmod(layout_.Pg().c_str(), 0700);
  if (AsRoot()) {
    const passwd* pg = ::getpwnam("postgres");
    if (pg == nullptr || ::chown(layout_.Pg().c_str(), pg->pw_uid, pg->pw_gid) != 0) {
      throw RuntimeError(fmt::format("cannot give {} to the postgres user", layout_.Pg().string()));
    }
  }
  if (need_db_password_) {
    WriteFileAtomic(layout_.DbPassword(), RandomSecret() + "\n", 0600);
  }
  save();
  step.Done();
}

// The repository's configuration is written before PostgreSQL starts: its archive_command reads
// it.
void LocalTarget::ConfigureBackups() {
  const BackupRepo repo{desired_.backup_repo};
  Step step(console_.quiet, fmt::format("backup repository {}", repo.root.string()));
  WriteBackupConfig(layout_, repo, BackupPassphrase(layout_, repo), desired_.pg_port,
                    desired_.retention_full);
  step.Done();
}

// The stanza, once PostgreSQL runs; `check` proves a WAL segment reaches the repository.
void LocalTarget::CreateStanza() {
  const BackupRepo repo{desired_.backup_repo};
  if (StanzaExists(repo)) {
    return;
  }
  {
    Step step(console_.quiet, fmt::format("pgbackrest stanza-create (stanza {})", kStanza));
    PgBackRestOrThrow(repo, {"stanza-create"}, 120s, "creating the backup stanza");
    step.Done();
  }
  Step step(console_.quiet, "pgbackrest check (a WAL segment reaches the repository)");
  PgBackRestOrThrow(repo, {"check"}, 120s, "checking WAL archiving");
  step.Done();
}

void LocalTarget::WriteConfiguration(const PlanDiff& diff, DeploymentState& state,
                                     const std::function<void()>& save) {
  std::vector<const DesiredFile*> to_write;
  for (const DesiredFile& f : desired_.host.files) {
    if (diff.Find(kHost, false, f.path) != nullptr) {
      to_write.push_back(&f);
    }
  }
  if (!to_write.empty()) {
    Step step(console_.quiet, fmt::format("write {} configuration file(s)", to_write.size()));
    for (const DesiredFile* f : to_write) {
      WriteFileAtomic(layout_.dir / f->path, f->content, f->mode);
    }
    step.Done();
  }
  auto& files = state.hosts[kHost].files;
  files.clear();
  for (const DesiredFile& f : desired_.host.files) {
    files[f.path] = {render::Sha256Hex(f.content), f.mode, CRM_VERSION};
  }
  save();
}

// A new cluster, when there is none yet; true when it was made.
bool LocalTarget::InitCluster() {
  if (fs::exists(layout_.PgData() / "PG_VERSION")) {
    return false;
  }
  Step step(console_.quiet, fmt::format("initdb {}", layout_.PgData().string()));
  const ToolResult r =
      Pg(layout_, "initdb",
         {"-D", layout_.PgData().string(), "-U", Superuser(), "-E", "UTF8", "--locale=C.UTF-8",
          "--auth-local=peer", "--auth-host=scram-sha-256", "--no-instructions"},
         180s);
  if (r.exit_code != 0) {
    throw RuntimeError(fmt::format("initdb failed (exit {}): {}", r.exit_code, r.output));
  }
  // Our settings are included last, as the vps target's conf.d file is.
  std::ofstream conf(layout_.PgData() / "postgresql.conf", std::ios::app);
  conf << "\n# crmctl apply --target local\ninclude " << QuoteConf((layout_.dir / kPgConf).string())
       << "\n";
  conf.close();
  if (!conf) {
    throw RuntimeError("cannot add the include to the cluster's postgresql.conf");
  }
  step.Done();
  return true;
}

void LocalTarget::ConvergePostgres(const PlanDiff& diff) {
  const ServiceAction action = ActionOf(diff, "postgres");
  const bool running = RunningPostgres(layout_, nullptr).has_value();
  if (!running || action == ServiceAction::kStart) {
    RequirePortFree(desired_.pg_port, "PostgreSQL");
    Step step(console_.quiet, fmt::format("start PostgreSQL on 127.0.0.1:{}", desired_.pg_port));
    AwaitPostmasterReaped(layout_.PgData() / "postmaster.pid");
    PgCtl(layout_, {"-l", layout_.PgLog().string(), "-w", "-t", "60", "start"}, "start");
    step.Done();
  } else if (action == ServiceAction::kRestart) {
    Step step(console_.quiet, fmt::format("restart PostgreSQL on 127.0.0.1:{} ({})",
                                          desired_.pg_port, SummaryOf(diff, "postgres")));
    PgCtl(layout_, {"-l", layout_.PgLog().string(), "-m", "fast", "-w", "-t", "60", "restart"},
          "restart");
    step.Done();
  } else if (action == ServiceAction::kReload) {
    Step step(console_.quiet, "reload PostgreSQL (pg_hba.conf)");
    PgCtl(layout_, {"reload"}, "reload");
    step.Done();
  }
}

void LocalTarget::CreateDatabase(DeploymentState& state) {
  Step step(console_.quiet, "database crm and its role (LOGIN CREATEROLE)");
  const std::string password = ReadFile(layout_.DbPassword()).substr(0, 48);
  const std::string sql =
      "SELECT 'CREATE ROLE crm LOGIN CREATEROLE' WHERE NOT EXISTS "
      "(SELECT 1 FROM pg_roles WHERE rolname = 'crm')\\gexec\n"
      "ALTER ROLE crm WITH LOGIN CREATEROLE PASSWORD " +
      QuoteConf(password) +
      ";\n"
      "SELECT 'CREATE DATABASE crm OWNER crm' WHERE NOT EXISTS "
      "(SELECT 1 FROM pg_database WHERE datname = 'crm')\\gexec\n";
  const ToolResult r = Pg(layout_, "psql",
                          {"-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", layout_.Pg().string(), "-p",
                           std::to_string(desired_.pg_port), "-U", Superuser(), "-d", "postgres"},
                          60s, sql);
  if (r.exit_code != 0) {
    throw RuntimeError(fmt::format("creating the crm role and database failed: {}", r.output));
  }
  state.settings["database"] = "crm";
  step.Done();
}

// A new crmd binary migrates the schema first; the first apply creates the admin account.
void LocalTarget::MigrateAndCreateAdmin(DeploymentState& state, const std::function<void()>& save) {
  const auto& services = state.hosts[kHost].services;
  const auto recorded = services.find("crmd");
  const std::string& binary = desired_.host.services[1].inputs.at("binary");
  const bool binary_changed = recorded == services.end() ||
                              recorded->second.inputs.count("binary") == 0 ||
                              recorded->second.inputs.at("binary") != binary;
  if (binary_changed) {
    Step step(console_.quiet, "crmd migrate");
    const ToolResult r = RunCrmd(desired_, {"migrate"}, 180s);
    if (r.exit_code != 0) {
      throw RuntimeError(fmt::format("crmd migrate failed (exit {}): {}", r.exit_code, r.output));
    }
    step.Done();
  }
  if (need_admin_) {
    Step step(console_.quiet, fmt::format("admin account {}", options_.admin_email));
    const std::string password = RandomSecret();
    const ToolResult r = RunCrmd(desired_, {"admin", "create", "--email", options_.admin_email},
                                 60s, password + "\n");
    if (r.exit_code != 0) {
      throw RuntimeError(
          fmt::format("crmd admin create failed (exit {}): {}", r.exit_code, r.output));
    }
    WriteFileAtomic(layout_.AdminPassword(), password + "\n", 0600);
    state.settings["admin_email"] = options_.admin_email;
    save();
    step.Done();
  }
}

void LocalTarget::ConvergeCrmd(const PlanDiff& diff) {
  const ServiceAction action = ActionOf(diff, "crmd");
  const bool running = RunningCrmd(layout_, nullptr).has_value();
  if (running && action != ServiceAction::kStart && action != ServiceAction::kRestart) {
    if (ActionOf(diff, "postgres") != ServiceAction::kNone) {
      const auto pid = RunningCrmd(layout_, nullptr);
      Step step(console_.quiet, "crmd /health after the PostgreSQL change");
      AwaitHttp(layout_, *pid, desired_.Url(), "/health", 60s);
      step.Done();
    }
    return;
  }
  if (running) {
    Step step(console_.quiet, fmt::format("stop crmd ({})", SummaryOf(diff, "crmd")));
    StopCrmd(layout_);
    step.Done();
  } else {
    StopCrmd(layout_);  // leftovers of a crmd that was killed
  }
  RequirePortFree(desired_.http_port, "crmd");
  pid_t pid = 0;
  {
    Step step(console_.quiet, fmt::format("start crmd --role all on {}", desired_.Url()));
    pid = StartCrmd(layout_, desired_.crmd, desired_.crmd_env);
    step.Done(fmt::format("pid {}, log {}", pid, layout_.CrmdLog().string()));
  }
  {
    Step step(console_.quiet, "wait for /health");
    AwaitHttp(layout_, pid, desired_.Url(), "/health", 60s);
    step.Done();
  }
  {
    Step step(console_.quiet, "wait for /ready (a warm slice)");
    AwaitHttp(layout_, pid, desired_.Url(), "/ready", 60s);
    step.Done();
  }
}

void LocalTarget::RecordService(DeploymentState& state, const std::string& name) const {
  for (const DesiredService& s : desired_.host.services) {
    if (s.name == name) {
      state.hosts[kHost].services[name] = {s.inputs, CRM_VERSION};
    }
  }
}

}  // namespace crm::apply::local
