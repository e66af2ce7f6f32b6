#include "crm/testing/pg_bouncer.hpp"

#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
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
  b->admin_password_ = "a console password";
  fs::create_directories(b->dir_);
  {
    std::ofstream list(b->dir_ / "userlist.txt");
    for (const auto& [user, password] : users) {
      list << '"' << user << "\" \"" << password << "\"\n";
    }
    list << '"' << kAdmin << "\" \"" << b->admin_password_ << "\"\n";
  }
  fs::permissions(b->dir_ / "userlist.txt", fs::perms::owner_read | fs::perms::owner_write,
                  fs::perm_options::replace);
  const bool root = ::geteuid() == 0;
  std::string last_error;
  for (int attempt = 0; attempt < 5; ++attempt) {
    b->port_ = FreePort();
    {
      // What the rendering sets that matters here: transaction pooling, the startup options
      // ignored (so a client relying on them would silently lose its settings), DISCARD ALL.
      std::ofstream ini(b->dir_ / "pgbouncer.ini");
      ini << "[databases]\n"
          << database << " = host=" << cluster.dir().string() << " port=5432 dbname=" << database
          << "\n[pgbouncer]\n"
          << "listen_addr = 127.0.0.1\nlisten_port = " << b->port_ << "\nunix_socket_dir =\n"
          << "auth_type = scram-sha-256\nauth_file = " << (b->dir_ / "userlist.txt").string()
          << "\npool_mode = transaction\ndefault_pool_size = " << pool_size
          << "\nreserve_pool_size = 0\nmax_client_conn = 500\n"
          << "server_reset_query = DISCARD ALL\n"
          << "ignore_startup_parameters = extra_float_digits,options\n"
          << "admin_users = " << kAdmin << "\nstats_users = " << kAdmin << "\n"
          << "logfile = " << (b->dir_ / "pgbouncer.log").string() << "\n";
    }
    if (root) {
      // PgBouncer refuses to run as root; -u drops to postgres once it has read its files.
      fs::path log = b->dir_ / "pgbouncer.log";
      std::ofstream(log).flush();
      RunCommand({"/bin/chown", "-R", "postgres:postgres", b->dir_.string()}, {}, "");
    }
    std::vector<std::string> argv = {"/usr/sbin/pgbouncer"};
    if (root) {
      argv.insert(argv.end(), {"-u", "postgres"});
    }
    argv.push_back((b->dir_ / "pgbouncer.ini").string());
    b->pid_ = StartProcess(argv, {}, b->dir_ / "stdout.log");
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(b->pid_, &status, WNOHANG) == b->pid_) {
        b->pid_ = -1;
        break;  // lost the port, most likely: another attempt
      }
      Connection c =
          Connect("host=127.0.0.1 port=" + std::to_string(b->port_) + " user=" + kAdmin +
                  " dbname=pgbouncer password='" + b->admin_password_ + "' connect_timeout=2");
      if (PQstatus(c.get()) == CONNECTION_OK) {
        return b;
      }
      last_error = PQerrorMessage(c.get());
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (b->pid_ > 0) {
      ::kill(b->pid_, SIGKILL);
      ::waitpid(b->pid_, nullptr, 0);
      b->pid_ = -1;
    }
  }
  throw std::runtime_error("PgBouncer did not start (scripts/bootstrap installs pgbouncer): " +
                           last_error + "\n" + b->Log());
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

std::string PgBouncer::Url(const std::string& user) const {
  return "postgresql://" + user + "@127.0.0.1:" + std::to_string(port_) + "/" + database_;
}

std::vector<std::map<std::string, std::string>> PgBouncer::Show(const std::string& command) const {
  Connection c = Connect("host=127.0.0.1 port=" + std::to_string(port_) + " user=" + kAdmin +
                         " dbname=pgbouncer password='" + admin_password_ + "'");
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
