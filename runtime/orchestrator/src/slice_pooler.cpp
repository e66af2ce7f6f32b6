#include "crm/orchestrator/slice_pooler.hpp"

#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <linux/close_range.h>
#include <pwd.h>
#include <signal.h>
#include <sodium.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

#include "crm/db/pool.hpp"
#include "crm/error.hpp"
#include "crm/files.hpp"
#include "helpers.hpp"

namespace crm::orchestrator {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// The console's login: only in the pooler's own login file, never a PostgreSQL role.
constexpr const char* kConsoleUser = "crmd_console";

// `content` into `path` (by a rename, mode `mode`), then PgBouncer's to read when we are root.
void WriteOwned(const fs::path& path, const std::string& content, mode_t mode, uid_t uid,
                gid_t gid) {
  WriteFileAtomic(path, content, static_cast<int>(mode));
  if (::geteuid() == 0 && ::chown(path.c_str(), uid, gid) != 0) {
    throw RuntimeError("cannot hand " + path.string() + " to uid " + std::to_string(uid) + ": " +
                       std::strerror(errno));
  }
}

}  // namespace

SlicePooler::SlicePooler(SlicePoolerOptions options) : options_(std::move(options)) {
  if (options_.size < 1) {
    throw InputError("slice_pool_size: expected at least 1, got " + std::to_string(options_.size));
  }
  options_.per_slice = std::clamp(options_.per_slice, 1, options_.size);
  database_ = db::ConnInfoValue(options_.database_url, "dbname");
  if (database_.empty()) {
    database_ = db::ConnInfoValue(options_.database_url, "user");  // libpq's own default
  }
  if (database_.empty() || database_.find_first_of(" ='\"") != std::string::npos) {
    throw InputError(
        "slice_pool_size: database_url must name its database (dbname) in plain characters for "
        "the slices' pooler, got \"" +
        database_ + "\"");
  }
  // sockaddr_un holds 107 characters and a NUL.
  std::string socket = (options_.dir / (".s.PGSQL." + std::to_string(kPort))).string();
  if (socket.size() > 107) {
    throw InputError("data_dir: the slices' pooler's socket " + socket + " is longer than 107 " +
                     "characters, the most a Unix socket's path may have; choose a shorter one");
  }
  if (::geteuid() == 0) {
    // PgBouncer refuses to run as root; the postgres user already reads every role's secret.
    const passwd* pg = ::getpwnam("postgres");
    if (pg == nullptr) {
      throw InputError(
          "slice_pool_size: crmd runs as root and PgBouncer will not; it runs as the postgres "
          "user, and there is none (install postgresql, or run crmd as its own user)");
    }
    run_uid_ = pg->pw_uid;
    run_gid_ = pg->pw_gid;
  } else {
    run_uid_ = ::geteuid();
    run_gid_ = ::getegid();
  }
  console_password_ = RandomHex(24);
}

SlicePooler::~SlicePooler() {
  Stop();
}

pid_t SlicePooler::pid() const {
  std::lock_guard lock(mutex_);
  return pid_;
}

std::string SlicePooler::SliceUrl(const std::string& role) const {
  return db::BuildConnInfo(options_.database_url, {{"host", options_.dir.string()},
                                                   {"hostaddr", ""},
                                                   {"port", std::to_string(kPort)},
                                                   {"dbname", database_},
                                                   {"user", role},
                                                   {"password", ""},
                                                   {"sslmode", ""}});
}

void SlicePooler::EndStale() const {
  std::ifstream in(options_.dir / "pgbouncer.pid");
  long pid = 0;
  if (!(in >> pid) || pid <= 1) {
    return;
  }
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  if (!std::getline(comm, name) || name != "pgbouncer") {
    return;  // gone, or the number was reused
  }
  spdlog::warn("slice pooler: ending PgBouncer {} a previous crmd left running", pid);
  ::kill(static_cast<pid_t>(pid), SIGTERM);
  for (int i = 0; i < 60 && ::kill(static_cast<pid_t>(pid), 0) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(static_cast<pid_t>(pid), SIGKILL);
}

void SlicePooler::Start() {
  std::lock_guard lock(mutex_);
  running_ = true;
  fs::create_directories(options_.dir);
  // Slices of other uids reach the socket in it; PgBouncer writes its pid file there.
  fs::permissions(options_.dir, fs::perms::owner_all | fs::perms::group_read |
                                    fs::perms::group_exec | fs::perms::others_read |
                                    fs::perms::others_exec);
  if (::geteuid() == 0 && ::chown(options_.dir.c_str(), run_uid_, run_gid_) != 0) {
    throw RuntimeError("cannot hand " + options_.dir.string() +
                       " to the postgres user: " + std::strerror(errno));
  }
  EndStale();
  std::string host = db::ConnInfoValue(options_.database_url, "host");
  std::string port = db::ConnInfoValue(options_.database_url, "port");
  // PgBouncer reads libpq's key=value syntax, quoting included.
  std::string server = db::BuildConnInfo("", {{"host", host.empty() ? "/var/run/postgresql" : host},
                                              {"port", port.empty() ? "5432" : port},
                                              {"dbname", database_}});
  std::string ini =
      "; Written by crmd at each start: the slices' pooler (docs/operations.md, \"Slices behind\n"
      "; the host's pooler\"). Edits are lost.\n"
      "[databases]\n" +
      database_ + " = " + server +
      "\n\n[pgbouncer]\n"
      "listen_addr =\n"
      "unix_socket_dir = " +
      options_.dir.string() +
      "\n"
      "unix_socket_mode = 0777\n"
      "listen_port = " +
      std::to_string(kPort) +
      "\n"
      "pidfile = " +
      (options_.dir / "pgbouncer.pid").string() +
      "\n"
      "auth_type = scram-sha-256\n"
      "auth_file = " +
      (options_.dir / "logins.txt").string() +
      "\n"
      "admin_users = " +
      kConsoleUser +
      "\n"
      "pool_mode = transaction\n"
      "default_pool_size = " +
      std::to_string(options_.per_slice) +
      "\n"
      "max_db_connections = " +
      std::to_string(options_.size) +
      "\n"
      "max_client_conn = " +
      std::to_string(options_.max_clients) +
      "\n"
      "server_idle_timeout = " +
      std::to_string(options_.idle_timeout.count()) +
      "\n"
      // A slice's settings are its role's (ALTER ROLE … SET): startup options would only ask
      // for the same, and PgBouncer cannot carry them.
      "ignore_startup_parameters = options,extra_float_digits\n"
      "server_login_retry = 1\n"
      "log_connections = 0\n"
      "log_disconnections = 0\n"
      "stats_period = 60\n";
  WriteOwned(options_.dir / "pgbouncer.ini", ini, 0640, run_uid_, run_gid_);
  WriteLogins();
  Launch();
}

void SlicePooler::WriteLogins() {
  std::string text = std::string("\"") + kConsoleUser + "\" \"" + console_password_ + "\"\n";
  for (const auto& [role, secret] : logins_) {
    text += "\"" + role + "\" \"" + secret + "\"\n";
  }
  WriteOwned(options_.dir / "logins.txt", text, 0600, run_uid_, run_gid_);
}

void SlicePooler::Launch() {
  fs::path log = options_.dir / "pgbouncer.log";
  int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (log_fd < 0) {
    throw RuntimeError("cannot open " + log.string() + ": " + std::strerror(errno));
  }
  if (::geteuid() == 0) {
    (void)::fchown(log_fd, run_uid_, run_gid_);
  }
  std::string ini = (options_.dir / "pgbouncer.ini").string();
  std::vector<char*> argv = {options_.binary.data(), ini.data(), nullptr};
  const bool root = ::geteuid() == 0;
  const uid_t uid = run_uid_;
  const gid_t gid = run_gid_;
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    int error = errno;
    ::close(log_fd);
    throw RuntimeError(std::string("cannot start PgBouncer: fork: ") + std::strerror(error));
  }
  if (pid == 0) {
    // Only async-signal-safe calls from here to exec.
    int null = ::open("/dev/null", O_RDONLY);
    if (null < 0 || ::dup2(null, 0) < 0 || ::dup2(log_fd, 1) < 0 || ::dup2(log_fd, 2) < 0) {
      ::_exit(126);
    }
    if (root && (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0)) {
      ::_exit(126);
    }
    // Nothing of crmd's ambient capabilities (the slices' uids) for PgBouncer.
    ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    // After setuid, which clears it: PgBouncer ends with crmd (with the thread that started it,
    // supervision's or crmd's main thread, which live as long as crmd).
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) {
      ::_exit(0);
    }
    ::syscall(SYS_close_range, 3U, ~0U, 0U);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(log_fd);
  pid_ = pid;
  launched_ = Clock::now();
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (true) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      std::string why = WIFEXITED(status) && WEXITSTATUS(status) == 127
                            ? options_.binary + " could not be run (is pgbouncer installed?)"
                            : "it exited";
      throw RuntimeError("the slices' pooler did not start: " + why + "; " + log.string() +
                         " ends with: " + LastLines(log, 5));
    }
    if (Console() != nullptr) {
      spdlog::info(
          "slice pooler: PgBouncer {} on {}: {} server connections for all slices, {} per "
          "slice",
          pid_, options_.dir.string(), options_.size, options_.per_slice);
      return;
    }
    if (Clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
      throw RuntimeError("the slices' pooler did not answer within 10 s; " + log.string() +
                         " ends with: " + LastLines(log, 5));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

pg_conn* SlicePooler::Console() {
  if (console_ != nullptr && PQstatus(console_) == CONNECTION_OK) {
    return console_;
  }
  CloseConsole();
  std::string conninfo = "host=" + options_.dir.string() + " port=" + std::to_string(kPort) +
                         " dbname=pgbouncer user=" + kConsoleUser +
                         " password=" + console_password_ + " connect_timeout=2";
  pg_conn* c = PQconnectdb(conninfo.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    PQfinish(c);
    return nullptr;
  }
  console_ = c;
  return console_;
}

void SlicePooler::CloseConsole() {
  if (console_ != nullptr) {
    PQfinish(console_);
    console_ = nullptr;
  }
}

void SlicePooler::Reload() {
  for (int attempt = 0; attempt < 2; ++attempt) {
    pg_conn* c = Console();
    if (c == nullptr) {
      break;
    }
    PGresult* r = PQexec(c, "RELOAD");
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    std::string error = ok ? "" : PQerrorMessage(c);
    PQclear(r);
    if (ok) {
      return;
    }
    spdlog::warn("slice pooler: RELOAD failed: {}", error);
    CloseConsole();
  }
  throw RuntimeError("the slices' pooler does not answer on its console; " +
                     (options_.dir / "pgbouncer.log").string() +
                     " ends with: " + LastLines(options_.dir / "pgbouncer.log", 5));
}

void SlicePooler::Admit(const std::string& role, const std::string& scram_secret) {
  std::lock_guard lock(mutex_);
  logins_[role] = scram_secret;
  WriteLogins();
  if (pid_ > 0) {
    Reload();  // else Supervise's restart reads the file
  }
}

void SlicePooler::Forget(const std::string& role) {
  std::lock_guard lock(mutex_);
  if (logins_.erase(role) == 0) {
    return;
  }
  WriteLogins();
  if (pid_ > 0) {
    Reload();
  }
}

std::vector<std::map<std::string, std::string>> SlicePooler::Show(const std::string& command) {
  std::lock_guard lock(mutex_);
  pg_conn* c = Console();
  if (c == nullptr) {
    throw RuntimeError("the slices' pooler does not answer on its console");
  }
  PGresult* r = PQexec(c, command.c_str());
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    std::string error = PQerrorMessage(c);
    PQclear(r);
    throw RuntimeError(command + ": " + error);
  }
  std::vector<std::map<std::string, std::string>> rows;
  for (int i = 0; i < PQntuples(r); ++i) {
    auto& row = rows.emplace_back();
    for (int f = 0; f < PQnfields(r); ++f) {
      row[PQfname(r, f)] = PQgetvalue(r, i, f);
    }
  }
  PQclear(r);
  return rows;
}

void SlicePooler::Supervise() {
  std::lock_guard lock(mutex_);
  if (!running_) {
    return;
  }
  if (pid_ <= 0) {
    if (launched_ != Clock::time_point{} && Clock::now() - launched_ >= std::chrono::seconds(1)) {
      try {
        Launch();
        spdlog::info("slice pooler: restarted");
      } catch (const std::exception& e) {
        launched_ = Clock::now();
        spdlog::error("slice pooler: {}", e.what());
      }
    }
    return;
  }
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) != pid_) {
    return;
  }
  spdlog::error("slice pooler: PgBouncer {} exited ({} {}); restarting it; {} ends with: {}", pid_,
                WIFSIGNALED(status) ? "signal" : "status",
                WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
                (options_.dir / "pgbouncer.log").string(),
                LastLines(options_.dir / "pgbouncer.log", 3));
  pid_ = -1;
  CloseConsole();
}

void SlicePooler::Stop() {
  std::lock_guard lock(mutex_);
  running_ = false;
  CloseConsole();
  if (pid_ <= 0) {
    return;
  }
  ::kill(pid_, SIGTERM);
  int status = 0;
  for (int i = 0; i < 60; ++i) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

}  // namespace crm::orchestrator
