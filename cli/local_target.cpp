#include "local_target.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "admin_client.hpp"
#include "crm/tools/tool_runner.hpp"
#include "crm/apply/approval.hpp"
#include "crm/apply/config_text.hpp"
#include "crm/apply/diff.hpp"
#include "crm/apply/lock.hpp"
#include "crm/apply/state.hpp"
#include "crm/error.hpp"
#include "crm/render/render.hpp"
#include "crm/files.hpp"
#include "crm/ports.hpp"
#include "crm/process.hpp"

namespace crm::cli {
namespace {

using tools::FindTool;
using tools::ProcessSpec;
using tools::RunProcess;
using tools::RunTool;
using tools::StartDetached;
using tools::ToolResult;

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kHost = "local";
constexpr const char* kPgBin = "/usr/lib/postgresql/15/bin";
constexpr int kDefaultHttpPort = 8080;
constexpr const char* kPgConf = "config/postgresql.conf";
constexpr const char* kPgHba = "config/pg_hba.conf";
constexpr const char* kCrmdEnv = "config/crmd.env";

// Where everything of a local deployment lives.
struct Layout {
  fs::path dir;
  fs::path State() const { return dir / "state.json"; }
  fs::path Lock() const { return dir / ".crmctl.lock"; }
  fs::path Pg() const { return dir / "pg"; }
  fs::path PgData() const { return dir / "pg" / "data"; }
  fs::path PgLog() const { return dir / "pg" / "postgres.log"; }
  fs::path Data() const { return dir / "data"; }
  fs::path Secrets() const { return dir / "secrets"; }
  fs::path DbPassword() const { return dir / "secrets" / "db_password"; }
  fs::path AdminPassword() const { return dir / "secrets" / "admin-password"; }
  fs::path CrmdPid() const { return dir / "crmd.pid"; }
  fs::path CrmdLog() const { return dir / "crmd.log"; }
};

bool AsRoot() {
  return ::geteuid() == 0;
}

// The cluster's superuser: initdb names it after the OS user that runs the server.
std::string Superuser() {
  if (AsRoot()) {
    return "postgres";
  }
  const passwd* pw = ::getpwuid(::geteuid());
  return pw != nullptr ? pw->pw_name : "postgres";
}

std::string QuoteConf(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    out += c == '\'' ? std::string("''") : std::string(1, c);
  }
  return out + "'";
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) {
    s.pop_back();
  }
  return s;
}

// KEY's value in env-file text, or "" when absent.
std::string EnvValue(const std::string& text, const std::string& key) {
  for (const auto& [k, v] : apply::ParseEnvFile(text, kCrmdEnv)) {
    if (k == key) {
      return v;
    }
  }
  return "";
}

std::string RandomSecret() {
  unsigned char bytes[24];
  std::ifstream random("/dev/urandom", std::ios::binary);
  if (!random.read(reinterpret_cast<char*>(bytes), sizeof bytes)) {
    throw RuntimeError("cannot read /dev/urandom for a new password");
  }
  std::string hex;
  for (unsigned char b : bytes) {
    hex += fmt::format("{:02x}", b);
  }
  return hex;
}

// A process we started and that died is a zombie until reaped; kill(pid, 0) would call it alive.
bool Alive(pid_t pid) {
  int status = 0;
  const pid_t r = ::waitpid(pid, &status, WNOHANG);
  if (r == pid) {
    return false;
  }
  if (r == 0) {
    return true;
  }
  // Not our child: a zombie its parent has not reaped yet is gone too.
  return !IsZombie(pid) && ProcessExists(pid);
}

std::string Cmdline(pid_t pid) {
  std::string text = ReadFileIfExists(fmt::format("/proc/{}/cmdline", pid)).value_or("");
  std::replace(text.begin(), text.end(), '\0', ' ');
  return text;
}

// PostgreSQL refuses to start while the pid in postmaster.pid exists, and a killed postmaster
// stays a zombie until its parent reaps it (a container's init can take a while).
void AwaitPostmasterReaped(const fs::path& pidfile) {
  const auto pid = ReadPidFile(pidfile);
  if (!pid) {
    return;
  }
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (IsZombie(*pid)) {
    if (std::chrono::steady_clock::now() > deadline) {
      throw RuntimeError(fmt::format(
          "the old postmaster (pid {}) is dead but was not reaped by its parent for 30 s; "
          "PostgreSQL will not start while it exists",
          *pid));
    }
    std::this_thread::sleep_for(50ms);
  }
}

// crmd as we start it: "…/crmd --role all".
std::optional<pid_t> RunningCrmd(const Layout& layout, std::string* why) {
  const auto pid = ReadPidFile(layout.CrmdPid());
  if (!pid) {
    if (why != nullptr) {
      *why = "never started, or stopped";
    }
    return std::nullopt;
  }
  if (!Alive(*pid)) {
    if (why != nullptr) {
      *why = fmt::format("pid {} from {} is gone", *pid, layout.CrmdPid().string());
    }
    return std::nullopt;
  }
  const std::string cmd = Cmdline(*pid);
  if (cmd.find("crmd") == std::string::npos || cmd.find("--role") == std::string::npos) {
    if (why != nullptr) {
      *why = fmt::format("pid {} is now another program ({})", *pid, cmd.substr(0, 60));
    }
    return std::nullopt;
  }
  return pid;
}

std::optional<pid_t> RunningPostgres(const Layout& layout, std::string* why) {
  if (!fs::exists(layout.PgData() / "PG_VERSION")) {
    if (why != nullptr) {
      *why = "no cluster yet";
    }
    return std::nullopt;
  }
  const auto pid = ReadPidFile(layout.PgData() / "postmaster.pid");
  if (!pid) {
    if (why != nullptr) {
      *why = "stopped";
    }
    return std::nullopt;
  }
  if (!Alive(*pid) || Cmdline(*pid).find("postgres") == std::string::npos) {
    if (why != nullptr) {
      *why = fmt::format("postmaster pid {} is gone", *pid);
    }
    return std::nullopt;
  }
  return pid;
}

ToolResult Pg(const Layout& layout, const std::string& tool, std::vector<std::string> args,
              std::chrono::seconds timeout, std::optional<std::string> input = std::nullopt) {
  ProcessSpec spec;
  spec.argv = {fmt::format("{}/{}", kPgBin, tool)};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.cwd = layout.Pg().string();
  spec.timeout = timeout;
  spec.as_postgres = true;
  spec.input = std::move(input);
  return RunProcess(spec);
}

void PgCtl(const Layout& layout, const std::vector<std::string>& args, const std::string& what) {
  std::vector<std::string> full = {"-D", layout.PgData().string()};
  full.insert(full.end(), args.begin(), args.end());
  const ToolResult r = Pg(layout, "pg_ctl", full, 90s);
  if (r.exit_code != 0) {
    throw RuntimeError(
        fmt::format("PostgreSQL: {} failed (pg_ctl exit {}{}): {}\n  {} ends with:\n{}", what,
                    r.exit_code, r.timed_out ? ", timed out" : "", r.output,
                    layout.PgLog().string(), LogTail(layout.PgLog().string(), 15)));
  }
}

// Every ancestor of `dir` must be searchable by the postgres user, or the server cannot reach its
// data directory (a checkout under /root is the usual case).
void CheckPostgresCanReach(const fs::path& dir) {
  if (!AsRoot()) {
    return;
  }
  const passwd* pg = ::getpwnam("postgres");
  if (pg == nullptr) {
    throw RuntimeError("there is no postgres user (scripts/bootstrap installs postgresql-15)");
  }
  for (fs::path p = dir; !p.empty(); p = p.parent_path()) {
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0) {
      const bool searchable = (st.st_mode & S_IXOTH) != 0 || st.st_uid == pg->pw_uid;
      if (!searchable) {
        throw InputError(fmt::format(
            "--dir: PostgreSQL runs as the postgres user, which cannot enter {} (mode {:04o}); "
            "choose a --dir outside it (e.g. /var/lib/crm-local) or chmod o+x {}",
            p.string(), st.st_mode & 07777, p.string()));
      }
    }
    if (p == p.root_path()) {
      break;
    }
  }
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

struct Desired {
  int http_port = 0;
  int pg_port = 0;
  std::string crmd;
  apply::DesiredHost host;
  std::map<std::string, std::string> crmd_env;
  std::string Url() const { return fmt::format("http://127.0.0.1:{}", http_port); }
};

Desired BuildDesired(const planner::Plan& plan, const Layout& layout, const LocalOptions& options,
                     const apply::DeploymentState& recorded, const std::string& crmd) {
  Desired d;
  d.crmd = crmd;
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
  render::RenderOptions render_options;
  render_options.domain = "localhost";
  render_options.version = CRM_VERSION;
  const render::Rendering rendering =
      render::Render(plan, render::RenderTarget::kVps, render_options);

  std::string conf = FindRendered(rendering, "etc/postgresql/15/main/conf.d/crm.conf");
  conf =
      "# crmctl apply --target local: the rendered settings, with this deployment's port,\n"
      "# socket directory and hba_file.\n" +
      conf;
  conf = apply::SetConfValue(conf, "listen_addresses", "'127.0.0.1'");
  conf = apply::SetConfValue(conf, "port", std::to_string(d.pg_port));
  conf = apply::SetConfValue(conf, "unix_socket_directories", QuoteConf(layout.Pg().string()));
  conf = apply::SetConfValue(conf, "hba_file", QuoteConf((layout.dir / kPgHba).string()));
  const std::string hba = FindRendered(rendering, "etc/postgresql/15/main/pg_hba.conf");

  std::string env = FindRendered(rendering, "etc/crmd/crmd.env");
  env = apply::SetEnvValue(env, "CRM_DATABASE_URL",
                           fmt::format("postgresql://crm@127.0.0.1:{}/crm", d.pg_port));
  env = apply::SetEnvValue(env, "CRM_DATABASE_PASSWORD_FILE", layout.DbPassword().string());
  env = apply::SetEnvValue(env, "CRM_LISTEN", fmt::format("127.0.0.1:{}", d.http_port));
  env = apply::SetEnvValue(env, "CRM_DATA_DIR", layout.Data().string());
  // Stripe and WhatsApp secrets: the local deployment runs without them (simulator channel).
  for (const auto& [key, value] : apply::ParseEnvFile(env, kCrmdEnv)) {
    if (key.ends_with("_FILE") && key != "CRM_DATABASE_PASSWORD_FILE") {
      env = apply::RemoveEnvValue(env, key);
    }
  }
  for (const auto& [key, value] : apply::ParseEnvFile(env, kCrmdEnv)) {
    d.crmd_env[key] = value;
  }

  d.host.name = kHost;
  d.host.files = {{kCrmdEnv, env, 0600}, {kPgHba, hba, 0644}, {kPgConf, conf, 0644}};
  apply::DesiredService postgres;
  postgres.name = "postgres";
  postgres.inputs = {{kPgConf, render::Sha256Hex(conf)}, {kPgHba, render::Sha256Hex(hba)}};
  postgres.reload_inputs = {kPgHba};
  apply::DesiredService crmd_service;
  crmd_service.name = "crmd";
  crmd_service.inputs = {{kCrmdEnv, render::Sha256Hex(env)}, {"binary", BinaryFingerprint(crmd)}};
  d.host.services = {postgres, crmd_service};
  return d;
}

apply::ObservedHost Observe(const Layout& layout, const apply::DesiredHost& host,
                            const apply::DeploymentState& recorded) {
  apply::ObservedHost obs;
  for (const apply::DesiredFile& f : host.files) {
    obs.files[f.path] = ReadFileIfExists(layout.dir / f.path);
  }
  if (const auto it = recorded.hosts.find(kHost); it != recorded.hosts.end()) {
    for (const auto& [path, record] : it->second.files) {
      obs.files[path] = ReadFileIfExists(layout.dir / path);
    }
  }
  std::string why;
  obs.running["postgres"] = RunningPostgres(layout, &why).has_value();
  if (!obs.running["postgres"]) {
    obs.why_not_running["postgres"] = why;
  }
  obs.running["crmd"] = RunningCrmd(layout, &why).has_value();
  if (!obs.running["crmd"]) {
    obs.why_not_running["crmd"] = why;
  }
  return obs;
}

void RequirePortFree(int port, const std::string& who) {
  if (!LoopbackPortFree(port)) {
    throw RuntimeError(fmt::format(
        "port {} on 127.0.0.1 is in use by another process, so {} cannot listen there; stop that "
        "process (`ss -ltnp 'sport = :{}'` names it) or choose another port ({})",
        port, who, port, who == "crmd" ? "--port N" : "--pg-port N"));
  }
}

void StopCrmd(const Layout& layout) {
  const auto pid = RunningCrmd(layout, nullptr);
  if (pid) {
    ::kill(*pid, SIGTERM);
    // crmd drains requests in flight (drain_timeout, 10 s by default) and stops its slices.
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (Alive(*pid) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
    }
  }
  // Whatever is left of its process group (crmd started it with setsid): slices of a crmd that
  // was killed, or one that did not stop in time.
  if (const auto old = ReadPidFile(layout.CrmdPid())) {
    ::kill(-*old, SIGKILL);
  }
  std::error_code ec;
  fs::remove(layout.CrmdPid(), ec);
}

// Polls GET url+path until 200, or throws naming what happened (crmd exited: its log).
void AwaitHttp(const Layout& layout, pid_t pid, const std::string& url, const std::string& path,
               std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  HttpAnswer last;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!Alive(pid)) {
      throw RuntimeError(fmt::format("crmd (pid {}) exited while starting; {} ends with:\n{}", pid,
                                     layout.CrmdLog().string(),
                                     LogTail(layout.CrmdLog().string(), 20)));
    }
    last = HttpGet(url + path, 2000);
    if (last.status == 200) {
      return;
    }
    std::this_thread::sleep_for(25ms);
  }
  throw RuntimeError(fmt::format(
      "crmd did not answer {} with 200 within {} s (last: {}); see {}", path, limit.count(),
      last.status != 0 ? fmt::format("HTTP {} {}", last.status, last.body.substr(0, 200))
                       : last.error,
      layout.CrmdLog().string()));
}

void RecordFiles(apply::DeploymentState& state, const apply::DesiredHost& host) {
  auto& files = state.hosts[kHost].files;
  files.clear();
  for (const apply::DesiredFile& f : host.files) {
    files[f.path] = {render::Sha256Hex(f.content), f.mode, CRM_VERSION};
  }
}

void RecordService(apply::DeploymentState& state, const apply::DesiredHost& host,
                   const std::string& name) {
  for (const apply::DesiredService& s : host.services) {
    if (s.name == name) {
      state.hosts[kHost].services[name] = {s.inputs, CRM_VERSION};
    }
  }
}

fs::path Absolute(const std::string& dir) {
  if (dir.empty()) {
    throw InputError("--dir: required (the deployment directory)");
  }
  return fs::weakly_canonical(fs::absolute(dir));
}

void CheckOwnDirectory(const fs::path& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) {
    throw InputError(fmt::format("--dir: {} exists and is not a directory", dir.string()));
  }
  if (fs::exists(dir, ec) && !fs::is_empty(dir, ec) && !fs::exists(dir / "state.json")) {
    throw InputError(fmt::format(
        "--dir: {} holds files but no state.json, so crmctl did not make it; choose an empty or "
        "new directory",
        dir.string()));
  }
}

std::string AdminHint(const Layout& layout, const std::string& email) {
  return fmt::format("{}, password in {}", email, layout.AdminPassword().string());
}

}  // namespace

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
  if (auto on_path = FindTool("crmd")) {
    return *on_path;
  }
  throw RuntimeError(fmt::format(
      "crmd not found next to crmctl, in the build tree ({}) or on PATH; build it (scripts/build) "
      "or pass --crmd PATH",
      candidates.empty() ? std::string("?") : candidates.back().string()));
}

int ApplyLocal(const planner::Plan& plan, const LocalOptions& options, const ApplyFlags& flags,
               const GlobalOptions& global) {
  const auto started = std::chrono::steady_clock::now();
  const Layout layout{Absolute(options.dir)};
  CheckOwnDirectory(layout.dir);
  const std::string crmd = FindCrmd(options.crmd);
  for (int port : {options.port, options.pg_port}) {
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
  // The socket path must fit sockaddr_un (107 bytes).
  if ((layout.Pg() / ".s.PGSQL.65535").string().size() > 107) {
    throw InputError(fmt::format(
        "--dir: {} is too long for PostgreSQL's Unix socket path (at most 107 bytes with "
        "pg/.s.PGSQL.PORT); choose a shorter directory",
        layout.dir.string()));
  }
  CheckPostgresCanReach(layout.dir);

  // An existing deployment is locked from planning to the end, approval prompt included; a new
  // one only once approved, so a refused or dry run leaves no directory behind.
  std::optional<apply::ApplyLock> lock;
  const auto take_lock = [&] {
    lock.emplace(apply::ApplyLock::Acquire(layout.Lock()));
    if (lock->stale_pid() && !global.quiet) {
      std::cout << fmt::format(
          "Note: {} was left by process {}, which is no longer running (an apply that was "
          "killed?); taking it over.\n",
          layout.Lock().string(), *lock->stale_pid());
    }
  };
  const bool existed = fs::exists(layout.dir);
  if (!flags.dry_run && existed) {
    take_lock();
  }
  apply::DeploymentState state = apply::LoadState(layout.State());
  if (!state.target.empty() && state.target != "local") {
    throw InputError(fmt::format("--dir: {} holds a {} deployment, not a local one",
                                 layout.dir.string(), state.target));
  }
  const Desired desired = BuildDesired(plan, layout, options, state, crmd);
  const apply::ObservedHost observed = Observe(layout, desired.host, state);
  apply::PlanDiff diff = apply::Diff({desired.host}, state, {{kHost, observed}});

  // Things with no content to compare: generated once.
  const bool need_db_password = !fs::exists(layout.DbPassword());
  const bool need_admin = !fs::exists(layout.AdminPassword());
  if (need_db_password) {
    diff.changes.push_back({apply::ChangeKind::kAdd,
                            kHost,
                            false,
                            "secrets/db_password",
                            "(generated, mode 0600)",
                            {},
                            {}});
  }
  if (need_admin) {
    diff.changes.push_back({apply::ChangeKind::kAdd,
                            kHost,
                            false,
                            "secrets/admin-password",
                            fmt::format("(generated; admin account {})", options.admin_email),
                            {},
                            {}});
  }
  const apply::Change* pg_change = diff.Find(kHost, true, "postgres");
  const apply::Change* crmd_change = diff.Find(kHost, true, "crmd");
  const apply::ServiceAction pg_action =
      pg_change != nullptr ? pg_change->action : apply::ServiceAction::kNone;
  const apply::ServiceAction crmd_action =
      crmd_change != nullptr ? crmd_change->action : apply::ServiceAction::kNone;

  if (!global.quiet) {
    std::cout << fmt::format("Local deployment in {} (tier {} {}, crmd {}):\n", layout.dir.string(),
                             plan.tier->id, plan.tier->name, crmd);
  }
  if (diff.Empty()) {
    if (!global.quiet) {
      std::cout << fmt::format("No changes. The deployment is up to date: {}\n", desired.Url());
    }
    return 0;
  }
  if (!global.quiet) {
    std::cout << apply::FormatDiff(diff, UseColor(global, 1));
  }
  // Ports first: a clear error before anything is changed.
  if (pg_action == apply::ServiceAction::kStart) {
    RequirePortFree(desired.pg_port, "PostgreSQL");
  }
  const bool crmd_port_moves =
      crmd_action == apply::ServiceAction::kRestart &&
      desired.crmd_env.at("CRM_LISTEN") !=
          EnvValue(ReadFileIfExists(layout.dir / kCrmdEnv).value_or(""), "CRM_LISTEN");
  if (crmd_action == apply::ServiceAction::kStart || crmd_port_moves) {
    RequirePortFree(desired.http_port, "crmd");
  }
  if (!ConfirmPlan(true, flags, "apply these changes")) {
    return apply::ApplyExitCode(flags.detailed_exitcode, true, true);
  }
  if (!existed) {
    fs::create_directories(layout.dir);
    ::chmod(layout.dir.c_str(), 0755);
    take_lock();
    if (fs::exists(layout.State())) {
      throw RuntimeError(fmt::format(
          "{} was created by another crmctl while this one waited for approval; run apply again",
          layout.dir.string()));
    }
  }

  if (!global.quiet) {
    std::cout << "\nApplying:\n";
  }
  state.target = "local";
  state.settings["http_port"] = std::to_string(desired.http_port);
  state.settings["pg_port"] = std::to_string(desired.pg_port);
  state.settings["crmd"] = crmd;
  {
    Step step(global, "directories and secrets");
    for (const fs::path& d : {layout.dir / "config", layout.Data()}) {
      fs::create_directories(d);
      ::chmod(d.c_str(), 0755);
    }
    fs::create_directories(layout.Secrets());
    ::chmod(layout.Secrets().c_str(), 0700);
    fs::create_directories(layout.Pg());
    ::chmod(layout.Pg().c_str(), 0700);
    if (AsRoot()) {
      const passwd* pg = ::getpwnam("postgres");
      if (pg == nullptr || ::chown(layout.Pg().c_str(), pg->pw_uid, pg->pw_gid) != 0) {
        throw RuntimeError(
            fmt::format("cannot give {} to the postgres user", layout.Pg().string()));
      }
    }
    if (need_db_password) {
      WriteFileAtomic(layout.DbPassword(), RandomSecret() + "\n", 0600);
    }
    apply::SaveState(layout.State(), state);
    step.Done();
  }
  std::vector<const apply::DesiredFile*> to_write;
  for (const apply::DesiredFile& f : desired.host.files) {
    if (diff.Find(kHost, false, f.path) != nullptr) {
      to_write.push_back(&f);
    }
  }
  if (!to_write.empty()) {
    Step step(global, fmt::format("write {} configuration file(s)", to_write.size()));
    for (const apply::DesiredFile* f : to_write) {
      WriteFileAtomic(layout.dir / f->path, f->content, f->mode);
    }
    step.Done();
  }
  RecordFiles(state, desired.host);
  apply::SaveState(layout.State(), state);

  bool pg_bootstrap = false;
  if (!fs::exists(layout.PgData() / "PG_VERSION")) {
    Step step(global, fmt::format("initdb {}", layout.PgData().string()));
    const ToolResult r =
        Pg(layout, "initdb",
           {"-D", layout.PgData().string(), "-U", Superuser(), "-E", "UTF8", "--locale=C.UTF-8",
            "--auth-local=peer", "--auth-host=scram-sha-256", "--no-instructions"},
           180s);
    if (r.exit_code != 0) {
      throw RuntimeError(fmt::format("initdb failed (exit {}): {}", r.exit_code, r.output));
    }
    // Our settings are included last, as the vps target's conf.d file is.
    std::ofstream conf(layout.PgData() / "postgresql.conf", std::ios::app);
    conf << "\n# crmctl apply --target local\ninclude "
         << QuoteConf((layout.dir / kPgConf).string()) << "\n";
    conf.close();
    if (!conf) {
      throw RuntimeError("cannot add the include to the cluster's postgresql.conf");
    }
    pg_bootstrap = true;
    step.Done();
  }
  const bool pg_running = RunningPostgres(layout, nullptr).has_value();
  if (!pg_running || pg_action == apply::ServiceAction::kStart) {
    RequirePortFree(desired.pg_port, "PostgreSQL");
    Step step(global, fmt::format("start PostgreSQL on 127.0.0.1:{}", desired.pg_port));
    AwaitPostmasterReaped(layout.PgData() / "postmaster.pid");
    PgCtl(layout, {"-l", layout.PgLog().string(), "-w", "-t", "60", "start"}, "start");
    step.Done();
  } else if (pg_action == apply::ServiceAction::kRestart) {
    Step step(global, fmt::format("restart PostgreSQL on 127.0.0.1:{} ({})", desired.pg_port,
                                  pg_change->summary));
    PgCtl(layout, {"-l", layout.PgLog().string(), "-m", "fast", "-w", "-t", "60", "restart"},
          "restart");
    step.Done();
  } else if (pg_action == apply::ServiceAction::kReload) {
    Step step(global, "reload PostgreSQL (pg_hba.conf)");
    PgCtl(layout, {"reload"}, "reload");
    step.Done();
  }
  if (pg_bootstrap || need_db_password || state.settings["database"] != "crm") {
    Step step(global, "database crm and its role (LOGIN CREATEROLE)");
    const std::string password = ReadFile(layout.DbPassword()).substr(0, 48);
    std::string quoted = "'";
    for (char c : password) {
      quoted += c == '\'' ? std::string("''") : std::string(1, c);
    }
    quoted += "'";
    const std::string sql =
        "SELECT 'CREATE ROLE crm LOGIN CREATEROLE' WHERE NOT EXISTS "
        "(SELECT 1 FROM pg_roles WHERE rolname = 'crm')\\gexec\n"
        "ALTER ROLE crm WITH LOGIN CREATEROLE PASSWORD " +
        quoted +
        ";\n"
        "SELECT 'CREATE DATABASE crm OWNER crm' WHERE NOT EXISTS "
        "(SELECT 1 FROM pg_database WHERE datname = 'crm')\\gexec\n";
    const ToolResult r = Pg(layout, "psql",
                            {"-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", layout.Pg().string(), "-p",
                             std::to_string(desired.pg_port), "-U", Superuser(), "-d", "postgres"},
                            60s, sql);
    if (r.exit_code != 0) {
      throw RuntimeError(fmt::format("creating the crm role and database failed: {}", r.output));
    }
    state.settings["database"] = "crm";
    step.Done();
  }
  RecordService(state, desired.host, "postgres");
  apply::SaveState(layout.State(), state);

  const auto& crmd_record = state.hosts[kHost].services;
  const auto recorded_crmd = crmd_record.find("crmd");
  const bool binary_changed =
      recorded_crmd == crmd_record.end() || recorded_crmd->second.inputs.count("binary") == 0 ||
      recorded_crmd->second.inputs.at("binary") != desired.host.services[1].inputs.at("binary");
  if (binary_changed) {
    Step step(global, "crmd migrate");
    ProcessSpec spec;
    spec.argv = {crmd, "migrate"};
    spec.env = desired.crmd_env;
    spec.drop_env_prefix = "CRM_";
    spec.timeout = 180s;
    const ToolResult r = RunProcess(spec);
    if (r.exit_code != 0) {
      throw RuntimeError(fmt::format("crmd migrate failed (exit {}): {}", r.exit_code, r.output));
    }
    step.Done();
  }
  if (need_admin) {
    Step step(global, fmt::format("admin account {}", options.admin_email));
    const std::string password = RandomSecret();
    ProcessSpec spec;
    spec.argv = {crmd, "admin", "create", "--email", options.admin_email};
    spec.env = desired.crmd_env;
    spec.drop_env_prefix = "CRM_";
    spec.input = password + "\n";
    const ToolResult r = RunProcess(spec);
    if (r.exit_code != 0) {
      throw RuntimeError(
          fmt::format("crmd admin create failed (exit {}): {}", r.exit_code, r.output));
    }
    WriteFileAtomic(layout.AdminPassword(), password + "\n", 0600);
    state.settings["admin_email"] = options.admin_email;
    apply::SaveState(layout.State(), state);
    step.Done();
  }

  const bool crmd_running = RunningCrmd(layout, nullptr).has_value();
  if (!crmd_running || crmd_action == apply::ServiceAction::kStart ||
      crmd_action == apply::ServiceAction::kRestart) {
    if (crmd_running) {
      Step step(global, fmt::format("stop crmd ({})", crmd_change->summary));
      StopCrmd(layout);
      step.Done();
    } else {
      StopCrmd(layout);  // leftovers of a crmd that was killed
    }
    RequirePortFree(desired.http_port, "crmd");
    pid_t pid = 0;
    {
      Step step(global, fmt::format("start crmd --role all on {}", desired.Url()));
      pid = StartDetached({crmd, "--role", "all"}, desired.crmd_env, layout.CrmdLog(),
                          layout.dir.string(), "CRM_");
      WriteFileAtomic(layout.CrmdPid(), fmt::format("{}\n", pid), 0644);
      step.Done(fmt::format("pid {}, log {}", pid, layout.CrmdLog().string()));
    }
    {
      Step step(global, "wait for /health");
      AwaitHttp(layout, pid, desired.Url(), "/health", 60s);
      step.Done();
    }
    {
      Step step(global, "wait for /ready (a warm slice)");
      AwaitHttp(layout, pid, desired.Url(), "/ready", 60s);
      step.Done();
    }
  } else if (pg_action != apply::ServiceAction::kNone) {
    const auto pid = RunningCrmd(layout, nullptr);
    Step step(global, "crmd /health after the PostgreSQL change");
    AwaitHttp(layout, *pid, desired.Url(), "/health", 60s);
    step.Done();
  }
  RecordService(state, desired.host, "crmd");
  apply::SaveState(layout.State(), state);

  if (!global.quiet) {
    std::cout << fmt::format(
        "\nApply complete in {}: {} added, {} changed, {} removed.\n"
        "Open {}  (admin {})\n"
        "Status: crmctl status --dir {}    Stop: crmctl destroy --dir {}\n",
        FormatSeconds(std::chrono::steady_clock::now() - started),
        diff.Count(apply::ChangeKind::kAdd), diff.Count(apply::ChangeKind::kChange),
        diff.Count(apply::ChangeKind::kRemove), desired.Url(),
        AdminHint(layout, state.settings["admin_email"]), layout.dir.string(), layout.dir.string());
  }
  return apply::ApplyExitCode(flags.detailed_exitcode, true, true);
}

int StatusLocal(const std::string& dir, const GlobalOptions& global) {
  const Layout layout{Absolute(dir)};
  if (!fs::exists(layout.State())) {
    throw InputError(
        fmt::format("--dir: {} has no state.json: nothing was applied there", layout.dir.string()));
  }
  const apply::DeploymentState state = apply::LoadState(layout.State());
  const auto get = [&](const char* key) {
    const auto it = state.settings.find(key);
    return it == state.settings.end() ? std::string() : it->second;
  };
  const std::string url = fmt::format("http://127.0.0.1:{}", get("http_port"));
  nlohmann::ordered_json doc;
  doc["dir"] = layout.dir.string();
  doc["target"] = state.target;
  std::string pg_why;
  const auto pg = RunningPostgres(layout, &pg_why);
  doc["postgres"] = {{"running", pg.has_value()},
                     {"pid", pg ? nlohmann::ordered_json(*pg) : nlohmann::ordered_json(nullptr)},
                     {"port", get("pg_port")},
                     {"version", Trim(ReadFileIfExists(layout.PgData() / "PG_VERSION").value_or(""))},
                     {"detail", pg ? std::string("") : pg_why},
                     {"log", layout.PgLog().string()}};
  std::string why;
  const auto crmd = RunningCrmd(layout, &why);
  HttpAnswer health;
  if (crmd) {
    health = HttpGet(url + "/health", 3000);
  }
  std::string crmd_version;
  if (!get("crmd").empty() && fs::exists(get("crmd"))) {
    const ToolResult v = RunTool({get("crmd"), "--version"}, "/", 10s);
    crmd_version = Trim(v.output);
  }
  doc["crmd"] = {{"running", crmd.has_value()},
                 {"pid", crmd ? nlohmann::ordered_json(*crmd) : nlohmann::ordered_json(nullptr)},
                 {"url", url},
                 {"health", health.status == 200 ? "ok"
                            : crmd               ? fmt::format("HTTP {} {}", health.status,
                                                 health.status ? health.body : health.error)
                                                 : "down"},
                 {"binary", get("crmd")},
                 {"version", crmd_version},
                 {"detail", crmd ? std::string("") : why},
                 {"log", layout.CrmdLog().string()}};
  doc["crmctl_version"] = CRM_VERSION;
  nlohmann::ordered_json slices = nullptr;
  std::string slices_error;
  if (health.status == 200 && fs::exists(layout.AdminPassword())) {
    try {
      ::setenv("CRM_ADMIN_EMAIL", get("admin_email").c_str(), 1);
      ::setenv("CRM_ADMIN_PASSWORD_FILE", layout.AdminPassword().c_str(), 1);
      ::unsetenv("CRM_ADMIN_TOKEN");
      AdminClient client(url);
      const nlohmann::json answer = client.Call("GET", "/admin/slices");
      std::map<std::string, int> by_state;
      for (const auto& s : answer.value("items", nlohmann::json::array())) {
        by_state[s.value("state", "?")]++;
      }
      slices = {{"total", answer.value("items", nlohmann::json::array()).size()},
                {"by_state", by_state}};
    } catch (const Error& e) {
      slices_error = e.what();
    }
  }
  doc["slices"] = slices;
  if (!slices_error.empty()) {
    doc["slices_error"] = slices_error;
  }
  const bool ok = pg.has_value() && crmd.has_value() && health.status == 200;
  doc["healthy"] = ok;

  const planner::OutputFormat format = OutputFormatOr(global, planner::OutputFormat::kTable);
  if (format == planner::OutputFormat::kJson || format == planner::OutputFormat::kYaml) {
    PrintDocument(doc, format);
    return ok ? 0 : 1;
  }
  std::cout << fmt::format("Local deployment in {}\n", layout.dir.string());
  std::cout << fmt::format(
      "  PostgreSQL {:<4} {}\n", doc["postgres"]["version"].get<std::string>(),
      pg ? fmt::format("running  pid {}  127.0.0.1:{}", *pg, get("pg_port"))
         : fmt::format("NOT RUNNING ({}); `crmctl apply --target local --dir {}` starts it", pg_why,
                       layout.dir.string()));
  std::cout << fmt::format(
      "  crmd            {}\n",
      crmd ? fmt::format("running  pid {}  {}  health: {}", *crmd, url,
                         doc["crmd"]["health"].get<std::string>())
           : fmt::format("NOT RUNNING ({}); `crmctl apply --target local --dir {}` restarts it",
                         why, layout.dir.string()));
  if (!slices.is_null()) {
    std::string states;
    for (const auto& [name, count] : slices["by_state"].items()) {
      states += fmt::format("{}{} {}", states.empty() ? "" : ", ", count.get<int>(), name);
    }
    std::cout << fmt::format("  slices          {} ({})\n", slices["total"].get<std::size_t>(),
                             states);
  } else if (!slices_error.empty()) {
    std::cout << fmt::format("  slices          unknown: {}\n", slices_error);
  }
  std::cout << fmt::format("  versions        {}; crmctl {}\n",
                           crmd_version.empty() ? "crmd ?" : crmd_version, CRM_VERSION);
  std::cout << fmt::format("  logs            {}, {}\n", layout.CrmdLog().string(),
                           layout.PgLog().string());
  if (!get("admin_email").empty()) {
    std::cout << fmt::format("  admin           {}\n", AdminHint(layout, get("admin_email")));
  }
  return ok ? 0 : 1;
}

int DestroyLocal(const std::string& dir, bool purge, const ApplyFlags& flags,
                 const GlobalOptions& global) {
  const Layout layout{Absolute(dir)};
  if (!fs::exists(layout.State())) {
    throw InputError(
        fmt::format("--dir: {} has no state.json: nothing was applied there", layout.dir.string()));
  }
  std::optional<apply::ApplyLock> lock;
  if (!flags.dry_run) {
    lock.emplace(apply::ApplyLock::Acquire(layout.Lock()));
    if (lock->stale_pid() && !global.quiet) {
      std::cout << fmt::format("Note: took over a stale lock of process {} (no longer running).\n",
                               *lock->stale_pid());
    }
  }
  apply::DeploymentState state = apply::LoadState(layout.State());
  const auto crmd = RunningCrmd(layout, nullptr);
  const auto pg = RunningPostgres(layout, nullptr);
  apply::PlanDiff diff;
  if (crmd) {
    diff.changes.push_back({apply::ChangeKind::kRemove,
                            kHost,
                            true,
                            "crmd",
                            fmt::format("stop (pid {}, and its slices)", *crmd),
                            {},
                            apply::ServiceAction::kStop});
  }
  if (pg) {
    diff.changes.push_back({apply::ChangeKind::kRemove,
                            kHost,
                            true,
                            "postgres",
                            fmt::format("stop (pid {})", *pg),
                            {},
                            apply::ServiceAction::kStop});
  }
  if (purge) {
    diff.changes.push_back({apply::ChangeKind::kRemove,
                            kHost,
                            false,
                            layout.dir.string() + "/",
                            "(everything: database, slices' files, secrets, logs, state)",
                            {},
                            {}});
  } else if (!state.hosts[kHost].services.empty()) {
    // Nothing runs, but the state still says so: record the stop.
    if (!crmd && !pg) {
      state.hosts[kHost].services.clear();
      if (!flags.dry_run) {
        apply::SaveState(layout.State(), state);
      }
    }
  }
  if (!global.quiet) {
    std::cout << fmt::format("Destroy the local deployment in {}:\n", layout.dir.string());
  }
  if (diff.Empty()) {
    if (!global.quiet) {
      std::cout << "Nothing to do: crmd and PostgreSQL are not running"
                << " (data kept; --purge removes it).\n";
    }
    return 0;
  }
  if (!global.quiet) {
    std::cout << apply::FormatDiff(diff, UseColor(global, 1));
  }
  if (!ConfirmPlan(true, flags, purge ? "destroy it and delete its data" : "stop it")) {
    return apply::ApplyExitCode(flags.detailed_exitcode, true, true);
  }
  {
    Step step(global, "stop crmd");
    StopCrmd(layout);
    step.Done();
  }
  if (pg) {
    Step step(global, "stop PostgreSQL");
    PgCtl(layout, {"-m", "fast", "-w", "-t", "60", "stop"}, "stop");
    step.Done();
  }
  if (purge) {
    Step step(global, fmt::format("remove {}", layout.dir.string()));
    lock->Release();
    fs::remove_all(layout.dir);
    step.Done();
  } else {
    state.hosts[kHost].services.clear();
    apply::SaveState(layout.State(), state);
  }
  if (!global.quiet) {
    std::cout << (purge ? "Destroyed; the data is gone.\n"
                        : fmt::format("Stopped; data kept in {} (`crmctl apply --target local "
                                      "--dir {}` starts it again, --purge removes it).\n",
                                      layout.dir.string(), layout.dir.string()));
  }
  return apply::ApplyExitCode(flags.detailed_exitcode, true, true);
}

}  // namespace crm::cli
