// The host's pooler for its slices (docs/operations.md, "Slices behind the host's pooler"): a
// PgBouncer crmd runs beside them in transaction pooling mode, so however many slices are
// active they share `size` PostgreSQL backends, at most `per_slice` each, and an idle slice
// holds none once `idle_timeout` has passed. Every slice still logs in as its own role: the
// pooler's login file holds each running slice's SCRAM secret, the very one PostgreSQL stores
// (same salt and iterations), so PgBouncer verifies the slice's proof and then logs in to
// PostgreSQL as that role with it. Nobody, PgBouncer included, can become a role whose slice
// has not logged in; a slice's search_path and statement_timeout are its role's settings.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

struct pg_conn;

namespace crm::orchestrator {

struct SlicePoolerOptions {
  /// Its settings, login file, socket, log and pid file (made if missing).
  std::filesystem::path dir;
  std::string binary = "/usr/sbin/pgbouncer";
  /// PostgreSQL as the slices would reach it directly: its host, port and database are the
  /// pooler's server.
  std::string database_url;
  int size = 20;      ///< server connections all slices share (max_db_connections)
  int per_slice = 3;  ///< of those, what one slice may hold (default_pool_size)
  std::chrono::seconds idle_timeout{10};  ///< a server connection unused this long is closed
  int max_clients = 10'000;               ///< client connections (slices hold up to 3 each)
};

class SlicePooler {
 public:
  /// The port in the socket's name (`.s.PGSQL.6432` in `dir`); nothing listens on TCP.
  static constexpr int kPort = 6432;

  /// Checks the options (InputError naming the setting); starts nothing.
  explicit SlicePooler(SlicePoolerOptions options);
  ~SlicePooler();
  SlicePooler(const SlicePooler&) = delete;
  SlicePooler& operator=(const SlicePooler&) = delete;

  /// Writes its settings and runs PgBouncer (as crmd's user; as the postgres user when crmd is
  /// root, which PgBouncer refuses to run as), ending one a previous crmd left behind first.
  /// Returns once its console answers; throws RuntimeError with its log's last lines when it
  /// does not come up within 10 s.
  void Start();
  /// Ends PgBouncer (SIGTERM, SIGKILL after 3 s). Its slices must be stopped first.
  void Stop();
  /// Restarts PgBouncer when it has exited (logged with its log's last lines). Cheap when it
  /// runs: call it from supervision.
  void Supervise();

  /// Lets `role` log in with the SCRAM secret PostgreSQL now holds for it (replacing any
  /// earlier one). Returns once PgBouncer has reloaded its logins: a slice started afterwards
  /// can connect.
  void Admit(const std::string& role, const std::string& scram_secret);
  /// `role` can no longer log in (its slice is destroyed).
  void Forget(const std::string& role);

  /// A slice's conninfo to the pooler: `database_url` with the pooler's socket as host and port
  /// and `role` as user (no password: the slice has its own).
  std::string SliceUrl(const std::string& role) const;
  /// The rows of an admin console command ("SHOW POOLS"), column → value. Blocking.
  std::vector<std::map<std::string, std::string>> Show(const std::string& command);
  pid_t pid() const;

 private:
  void Launch();       // mutex_ held
  void WriteLogins();  // mutex_ held
  void Reload();       // mutex_ held
  /// The console, connected (reconnecting when the last one broke); mutex_ held.
  pg_conn* Console();
  void CloseConsole();  // mutex_ held
  void EndStale() const;

  SlicePoolerOptions options_;
  std::string database_;  ///< the database's name, in the pooler as on the server
  std::string console_password_;
  uid_t run_uid_ = 0;  ///< whom PgBouncer runs as
  gid_t run_gid_ = 0;
  mutable std::mutex mutex_;
  std::map<std::string, std::string> logins_;  ///< role → SCRAM secret
  bool running_ = false;                       ///< between Start and Stop: Supervise restarts it
  pid_t pid_ = -1;
  pg_conn* console_ = nullptr;
  std::chrono::steady_clock::time_point launched_{};
};

}  // namespace crm::orchestrator
