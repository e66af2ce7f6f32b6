#include "crm/testing/pg_bouncer.hpp"

#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "crm/testing/crmd_process.hpp"

namespace crm::testing {
namespace {

namespace fs = std::filesystem;

constexpr const char* kAdmin = "pgbouncer_admin";

// A loopback port free right now (PgBouncer binds it itself; a start that loses the race is
// retried with another).
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("cannot find a free port for PgBouncer");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

using Connection = std::unique_ptr<PGconn, decltype(&PQfinish)>;

Connection Connect(const std::string& conninfo) {
  return Connection(PQconnectdb(conninfo.c_str()), &PQfinish);
}

}  // namespace

std::unique_ptr<PgBouncer> PgBouncer::Start(const PgCluster& cluster, const std::string& database,
                                            const std::map<std::string, std::string>& users,
                                            int pool_size) {
  std::unique_ptr<PgBouncer> b(new PgBouncer());
  b->dir_ = cluster.dir() / "pgbouncer";
  b->database_ = database;
  b->admin_user_ = kAdmin;
  b->admin_password_ = "a console password";
  fs::create_directories(b->dir_);
  {
    std::ofstream list(b->dir_ / "userlist.txt");
    for (const auto& [user, password] : users) {
      list << '"' << user << "\" \"" << password << "\"\n";
    }
    list << '"' << kAdmin << "\" \"" << b->admin_password_ << "\"\n";
  }
  b->Launch([&](int port) {
    // What the rendering sets that matters here: transaction pooling, the startup options
    // ignored (so a client relying on them would silently lose its settings), DISCARD ALL.
    std::ostringstream ini;
    ini << "[databases]\n"
        << database << " = host=" << cluster.dir().string() << " port=5432 dbname=" << database
        << "\n[pgbouncer]\n"
        << "listen_addr = 127.0.0.1\nlisten_port = " << port << "\nunix_socket_dir =\n"
        << "auth_type = scram-sha-256\nauth_file = " << (b->dir_ / "userlist.txt").string()
        << "\npool_mode = transaction\ndefault_pool_size = " << pool_size
        << "\nreserve_pool_size = 0\nmax_client_conn = 500\n"
        << "server_reset_query = DISCARD ALL\n"
        << "ignore_startup_parameters = extra_float_digits,options\n"
        << "admin_users = " << kAdmin << "\nstats_users = " << kAdmin << "\n"
        << "logfile = " << (b->dir_ / "pgbouncer.log").string() << "\n";
    return ini.str();
  });
  return b;
}

std::unique_ptr<PgBouncer> PgBouncer::StartRendered(
    const std::string& ini, const fs::path& dir,
    const std::map<std::string, const PgCluster*>& servers, const std::string& userlist,
    const std::string& admin_password) {
  std::unique_ptr<PgBouncer> b(new PgBouncer());
  b->dir_ = dir;
  b->admin_password_ = admin_password;
  fs::create_directories(b->dir_);
  std::ofstream(b->dir_ / "userlist.txt") << userlist;
  // The rendered lines, [databases] entries pointed at the stand-in clusters; the first
  // database is what Url() names.
  const std::regex entry(R"(^(\S+)\s*=\s*(.*)\bhost=(\S+) port=(\d+)(.*)$)");
  const std::regex setting(R"(^(\w+)\s*=\s*(.*)$)");
  std::vector<std::string> lines;
  std::string section;
  std::istringstream in(ini);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (line.starts_with("[")) {
      section = line;
    } else if (section == "[databases]" && std::regex_match(line, m, entry)) {
      auto server = servers.find(m[3].str() + ":" + m[4].str());
      if (server == servers.end()) {
        throw std::runtime_error("pgbouncer.ini: [databases] " + m[1].str() + ": no cluster for " +
                                 m[3].str() + ":" + m[4].str());
      }
      line = m[1].str() + " = " + m[2].str() + "host=" + server->second->dir().string() +
             " port=5432" + m[5].str();
      if (b->database_.empty()) {
        b->database_ = m[1].str();
      }
    } else if (section == "[pgbouncer]" && std::regex_match(line, m, setting) &&
               m[1] == "admin_users") {
      b->admin_user_ = m[2].str().substr(0, m[2].str().find_first_of(", "));
    }
    lines.push_back(line);
  }
  b->Launch([&](int port) {
    const std::map<std::string, std::string> loopback = {
        {"listen_addr", "127.0.0.1"},
        {"listen_port", std::to_string(port)},
        {"unix_socket_dir", b->dir_.string()},
        {"auth_file", (b->dir_ / "userlist.txt").string()},
        {"logfile", (b->dir_ / "pgbouncer.log").string()},
        {"pidfile", (b->dir_ / "pgbouncer.pid").string()}};
    std::string text;
    std::string current;
    for (const std::string& line : lines) {
      std::smatch m;
      if (line.starts_with("[")) {
        current = line;
      }
      if (current == "[pgbouncer]" && std::regex_match(line, m, setting) &&
          loopback.contains(m[1].str())) {
        continue;  // written once below, after the section's header
      }
      text += line + "\n";
      if (line == "[pgbouncer]") {
        for (const auto& [key, value] : loopback) {
          text += key + " = " + value + "\n";
        }
      }
    }
    return text;
  });
  return b;
}

void PgBouncer::Launch(const std::function<std::string(int port)>& config) {
  fs::permissions(dir_ / "userlist.txt", fs::perms::owner_read | fs::perms::owner_write,
                  fs::perm_options::replace);
  const bool root = ::geteuid() == 0;
  std::string last_error;
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = FreePort();
    std::ofstream(dir_ / "pgbouncer.ini") << config(port_);
    if (root) {
      // PgBouncer refuses to run as root; -u drops to postgres once it has read its files.
      fs::path log = dir_ / "pgbouncer.log";
      std::ofstream(log).flush();
      RunCommand({"/bin/chown", "-R", "postgres:postgres", dir_.string()}, {}, "");
    }
    std::vector<std::string> argv = {"/usr/sbin/pgbouncer"};
    if (root) {
      argv.insert(argv.end(), {"-u", "postgres"});
    }
    argv.push_back((dir_ / "pgbouncer.ini").string());
    pid_ = StartProcess(argv, {}, dir_ / "stdout.log");
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        break;  // lost the port, most likely: another attempt
      }
      Connection c = Connect(ConsoleConnInfo() + " connect_timeout=2");
      if (PQstatus(c.get()) == CONNECTION_OK) {
        return;
      }
      last_error = PQerrorMessage(c.get());
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  throw std::runtime_error("PgBouncer did not start (scripts/bootstrap installs pgbouncer): " +
                           last_error + "\n" + Log());
}

std::string PgBouncer::ConsoleConnInfo() const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " user=" + admin_user_ +
         " dbname=pgbouncer password='" + admin_password_ + "'";
}

PgBouncer::~PgBouncer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (::waitpid(pid_, &status, WNOHANG) == 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
  }
}

std::string PgBouncer::Url(const std::string& user, const std::string& database) const {
  return "postgresql://" + user + "@127.0.0.1:" + std::to_string(port_) + "/" +
         (database.empty() ? database_ : database);
}

std::vector<std::map<std::string, std::string>> PgBouncer::Show(const std::string& command) const {
  Connection c = Connect(ConsoleConnInfo());
  if (PQstatus(c.get()) != CONNECTION_OK) {
    throw std::runtime_error(std::string("PgBouncer's console: ") + PQerrorMessage(c.get()));
  }
  std::unique_ptr<PGresult, decltype(&PQclear)> res(PQexec(c.get(), command.c_str()), &PQclear);
  if (PQresultStatus(res.get()) != PGRES_TUPLES_OK) {
    throw std::runtime_error(command + ": " + PQerrorMessage(c.get()));
  }
  std::vector<std::map<std::string, std::string>> rows;
  for (int r = 0; r < PQntuples(res.get()); ++r) {
    std::map<std::string, std::string> row;
    for (int f = 0; f < PQnfields(res.get()); ++f) {
      row[PQfname(res.get(), f)] = PQgetvalue(res.get(), r, f);
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string PgBouncer::Log() const {
  std::ostringstream out;
  for (const char* name : {"pgbouncer.log", "stdout.log"}) {
    std::ifstream in(dir_ / name);
    out << "--- " << name << " ---\n" << in.rdbuf() << "\n";
  }
  return out.str();
}

}  // namespace crm::testing
