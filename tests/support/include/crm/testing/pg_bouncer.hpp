// A real PgBouncer for tests, in transaction pooling mode (as templates/multi/pgbouncer.ini
// renders it), on a loopback port in front of a PgCluster's socket; its config in a temp dir.
#pragma once

#include <sys/types.h>

#include <filesystem>
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
  ~PgBouncer();
  PgBouncer(const PgBouncer&) = delete;
  PgBouncer& operator=(const PgBouncer&) = delete;

  /// A postgresql:// URL to `database` through the pooler as `user`, without a password.
  std::string Url(const std::string& user) const;
  int port() const { return port_; }
  /// The rows of an admin console command ("SHOW POOLS"), column name → value.
  std::vector<std::map<std::string, std::string>> Show(const std::string& command) const;
  std::string Log() const;

 private:
  PgBouncer() = default;
  std::filesystem::path dir_;
  std::string database_;
  std::string admin_password_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace crm::testing
