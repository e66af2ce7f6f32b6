// A real PgBouncer for tests on a loopback port in front of PgCluster sockets, its config in a
// temp dir: either a config of its own in transaction pooling mode, or a rendered pgbouncer.ini
// (templates/multi/pgbouncer.ini.mustache) with only addresses and paths rewritten.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "crm/testing/pg_cluster.hpp"

namespace crm::testing {

class PgBouncer {
 public:
  /// Starts PgBouncer in front of `cluster`'s database `database`, with SCRAM logins for
  /// `users` (name → password; PostgreSQL itself trusts the socket) and `pool_size` server
  /// connections per user and database. Runs as the postgres user when we are root. Throws
  /// std::runtime_error with its log when it does not come up.
  static std::unique_ptr<PgBouncer> Start(const PgCluster& cluster, const std::string& database,
                                          const std::map<std::string, std::string>& users,
                                          int pool_size);
  /// Starts PgBouncer from the text of a rendered pgbouncer.ini. Every setting stays as rendered
  /// except what a loopback run must change: listen_addr and listen_port (127.0.0.1, a free
  /// port), unix_socket_dir, auth_file, logfile and pidfile (files in `dir`), and the host and
  /// port of each [databases] entry: `servers` maps the rendered "host:port" to the cluster
  /// standing in for it. `userlist` is the content of auth_file (what the operator installs).
  /// The console (Show) logs in as the first of the rendered admin_users with `admin_password`.
  /// Throws std::runtime_error naming the entry when a [databases] server is not in `servers`,
  /// or as Start.
  static std::unique_ptr<PgBouncer> StartRendered(
      const std::string& ini, const std::filesystem::path& dir,
      const std::map<std::string, const PgCluster*>& servers, const std::string& userlist,
      const std::string& admin_password);
  ~PgBouncer();
  PgBouncer(const PgBouncer&) = delete;
  PgBouncer& operator=(const PgBouncer&) = delete;

  /// A postgresql:// URL through the pooler as `user`, without a password, to `database` (empty:
  /// the one Start was given).
  std::string Url(const std::string& user, const std::string& database = {}) const;
  int port() const { return port_; }
  /// The rows of an admin console command ("SHOW POOLS"), column name → value.
  std::vector<std::map<std::string, std::string>> Show(const std::string& command) const;
  std::string Log() const;

 private:
  PgBouncer() = default;
  /// Writes the ini `config(port)` returns for a free port and starts PgBouncer on it, retrying
  /// with another port when it loses one.
  void Launch(const std::function<std::string(int port)>& config);
  /// libpq keywords for the admin console.
  std::string ConsoleConnInfo() const;
  std::filesystem::path dir_;
  std::string database_;
  std::string admin_user_;
  std::string admin_password_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace crm::testing
