#include "crm/db/leader.hpp"

#include <spdlog/spdlog.h>

namespace crm::db {

bool AdvisoryLeader::Hold() {
  std::lock_guard lock(mutex_);
  try {
    if (!connection_ || !connection_->is_open()) {
      leader_ = false;
      connection_ = connect_();
    }
    pqxx::nontransaction tx(*connection_);
    if (leader_) {
      tx.exec("SELECT 1");  // the session (and the lock with it) is still there
      return true;
    }
    leader_ = tx.exec_params1("SELECT pg_try_advisory_lock($1)", key_)[0].as<bool>();
    if (leader_) {
      spdlog::info("{}: this process leads", what_);
    }
  } catch (const std::exception& e) {
    if (leader_) {
      spdlog::warn("{}: lost the leader lock's connection: {}", what_, e.what());
    }
    connection_.reset();
    leader_ = false;
  }
  return leader_;
}

void AdvisoryLeader::Release() {
  std::lock_guard lock(mutex_);
  connection_.reset();  // closing the session releases the lock
  leader_ = false;
}

}  // namespace crm::db
