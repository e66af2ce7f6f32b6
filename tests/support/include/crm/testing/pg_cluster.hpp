// A real, throwaway PostgreSQL 15 cluster for tests: initdb into a temp dir, started with pg_ctl
// on a Unix socket in that dir (no TCP port to collide), removed when the object goes away.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

namespace crm::testing {

class PgCluster {
 public:
  /// Creates and starts a cluster. Runs initdb/pg_ctl as the postgres user when we are root
  /// (they refuse root). Throws std::runtime_error with the tools' output when it cannot start:
  /// a database test must fail then, never skip.
  static std::unique_ptr<PgCluster> Start();
  /// As Start, with `settings` (postgresql.conf lines, e.g. a rendered conf.d/crm.conf) in the
  /// data directory's conf.d/, included as Debian's postgresql.conf includes it. What a loopback
  /// test needs wins over them: the socket in dir(), no TCP listener, no fsync.
  static std::unique_ptr<PgCluster> Start(const std::string& settings);

  /// Starts a streaming replica of this cluster (pg_basebackup -R over its socket) in a temp dir
  /// of its own; hot standby, so it answers read-only queries. Throws as Start.
  std::unique_ptr<PgCluster> StartStandby() const;

  ~PgCluster();
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  /// libpq keyword/value connection string for the superuser `postgres` and database `postgres`.
  std::string ConnectionString(const std::string& database = "postgres") const;
  /// The directory holding the data directory, the socket and the log.
  const std::filesystem::path& dir() const { return dir_; }
  /// Stops the server (fast shutdown) and removes the directory; the destructor calls it.
  void Stop();
  /// Restarts the server (fast shutdown: every client connection is cut); starts it when paused.
  void Restart();
  /// Stops the server (fast shutdown) and keeps its data: Restart() starts it again.
  void Pause();

 private:
  void PgCtl(const std::string& action);
  explicit PgCluster(std::filesystem::path dir) : dir_(std::move(dir)) {}
  std::filesystem::path dir_;
  bool running_ = false;
};

}  // namespace crm::testing
