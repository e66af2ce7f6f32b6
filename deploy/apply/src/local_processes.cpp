#include <fmt/format.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <thread>

#include "crm/error.hpp"
#include "crm/files.hpp"
#include "crm/http_client.hpp"
#include "crm/ports.hpp"
#include "crm/process.hpp"
#include "crm/text.hpp"
#include "local_deployment.hpp"

namespace crm::apply::local {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using tools::ProcessSpec;
using tools::ToolResult;

namespace {

std::string Cmdline(pid_t pid) {
  std::string text = ReadFileIfExists(fmt::format("/proc/{}/cmdline", pid)).value_or("");
  std::replace(text.begin(), text.end(), '\0', ' ');
  return text;
}

}  // namespace

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

std::string TrimLine(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) {
    return "";
  }
  return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

std::string LogTail(const fs::path& path, int lines) {
  const std::vector<std::string> all = SplitLines(ReadFileIfExists(path).value_or(""));
  const std::size_t keep = static_cast<std::size_t>(std::max(0, lines));
  std::string out;
  for (std::size_t i = all.size() > keep ? all.size() - keep : 0; i < all.size(); ++i) {
    out += "    " + all[i] + "\n";
  }
  return out;
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
              std::chrono::seconds timeout, std::optional<std::string> input) {
  ProcessSpec spec;
  spec.argv = {fmt::format("{}/{}", kPgBin, tool)};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.cwd = layout.Pg().string();
  spec.timeout = timeout;
  spec.as_postgres = true;
  spec.input = std::move(input);
  return tools::RunProcess(spec);
}

void PgCtl(const Layout& layout, const std::vector<std::string>& args, const std::string& what) {
  std::vector<std::string> full = {"-D", layout.PgData().string()};
  full.insert(full.end(), args.begin(), args.end());
  const ToolResult r = Pg(layout, "pg_ctl", full, 90s);
  if (r.exit_code != 0) {
    throw RuntimeError(
        fmt::format("PostgreSQL: {} failed (pg_ctl exit {}{}): {}\n  {} ends with:\n{}", what,
                    r.exit_code, r.timed_out ? ", timed out" : "", r.output,
                    layout.PgLog().string(), LogTail(layout.PgLog(), 15)));
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

std::string Psql(const Layout& layout, const fs::path& socket_dir, int port, const std::string& db,
                 const std::string& sql, const std::string& what,
                 const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"-X", "-q",
                                   "-v", "ON_ERROR_STOP=1",
                                   "-h", socket_dir.string(),
                                   "-p", std::to_string(port),
                                   "-U", Superuser(),
                                   "-d", db};
  args.insert(args.end(), extra.begin(), extra.end());
  const ToolResult r = Pg(layout, "psql", args, 600s, sql);
  if (r.exit_code != 0) {
    throw RuntimeError(fmt::format("{} failed (psql exit {}{}): {}", what, r.exit_code,
                                   r.timed_out ? ", timed out" : "", r.output));
  }
  return r.output;
}

pid_t StartCrmd(const Layout& layout, const std::string& crmd,
                const std::map<std::string, std::string>& env) {
  const pid_t pid = tools::StartDetached({crmd, "--role", "all"}, env, layout.CrmdLog(),
                                         layout.dir.string(), "CRM_");
  WriteFileAtomic(layout.CrmdPid(), fmt::format("{}\n", pid), 0644);
  return pid;
}

// Polls GET url+path until 200, or throws naming what happened (crmd exited: its log).
void AwaitHttp(const Layout& layout, pid_t pid, const std::string& url, const std::string& path,
               std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  HttpResponse last;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!Alive(pid)) {
      throw RuntimeError(fmt::format("crmd (pid {}) exited while starting; {} ends with:\n{}", pid,
                                     layout.CrmdLog().string(), LogTail(layout.CrmdLog(), 20)));
    }
    last = HttpGet(url + path, 2s);
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

}  // namespace crm::apply::local
