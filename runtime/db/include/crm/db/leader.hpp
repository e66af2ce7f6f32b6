// One leader among the processes sharing a database (several gateways behind a load balancer):
// whoever holds a session-level advisory lock, on a connection of its own. A lost connection
// loses the lock, and with it the lead, at the next Hold.
#pragma once

#include <pqxx/pqxx>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

namespace crm::db {

class AdvisoryLeader {
 public:
  using Connect = std::function<std::unique_ptr<pqxx::connection>()>;
  /// `key`: the advisory lock's number, one per kind of leader; `what` names it in logs.
  AdvisoryLeader(Connect connect, long long key, std::string what)
      : connect_(std::move(connect)), key_(key), what_(std::move(what)) {}

  /// Takes the lock, or confirms that this process still holds it (its session is alive).
  /// False when another process holds it or the database cannot be reached. Blocking.
  bool Hold();
  /// Lets the lock go (closes its connection).
  void Release();
  /// As of the last Hold.
  bool leader() const { return leader_; }

 private:
  Connect connect_;
  long long key_;
  std::string what_;
  std::mutex mutex_;
  std::unique_ptr<pqxx::connection> connection_;
  std::atomic<bool> leader_{false};
};

}  // namespace crm::db
