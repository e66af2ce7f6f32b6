// The SQL of gateway sessions: a session per sign-in, stored as its token's hash, with a rolling
// expiry; and who its caller is (account, role, slice). Runs inside the caller's transaction;
// the caller commits.
#pragma once

#include <pqxx/pqxx>

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "crm/orchestrator/lifecycle.hpp"

namespace crm::gateway {

/// What a valid session tells the gateway about its caller.
struct Caller {
  long long user_id = 0;
  std::string email;
  std::string role;                   ///< "tenant" or "admin"
  std::optional<long long> slice_id;  ///< none until the user has a slice
  orchestrator::SliceState slice_state =
      orchestrator::SliceState::kProvisioning;  ///< with slice_id
  std::string slice_endpoint;
  /// The slice's storage at its last measurement, and its quota (bytes; with slice_id).
  std::uint64_t storage_bytes = 0;
  std::uint64_t storage_quota_bytes = 0;
  bool renewed = false;  ///< the expiry rolled forward: send the cookie again
};

/// {"user": {id, email, role}, "slice": {id, state} or null}: what /auth/* answer.
nlohmann::json UserJson(const Caller& caller);

class SessionStore {
 public:
  explicit SessionStore(pqxx::transaction_base& tx) : tx_(tx) {}

  /// A new session of `user_id` for `ttl`, known by `token_hash` (hex SHA-256 of the token).
  void Create(const std::string& token_hash, long long user_id, std::chrono::seconds ttl,
              const std::string& ip, const std::string& user_agent);
  /// The caller holding the session, its expiry pushed to now + `ttl` when less than an hour of
  /// that was used (at most one write an hour per session). nullopt when the session is
  /// unknown or expired, or its account is not active.
  std::optional<Caller> Touch(const std::string& token_hash, std::chrono::seconds ttl);
  /// The caller `user_id` as a new session sees it.
  Caller Load(long long user_id);
  /// Ends one session (sign-out).
  void Delete(const std::string& token_hash);
  /// Ends every session of the account (its password changed).
  void DeleteAllOf(long long user_id);
  /// Ends every session of the account but the one known by `keep_hash` (the password changed
  /// in this browser).
  void DeleteAllOfExcept(long long user_id, const std::string& keep_hash);

 private:
  pqxx::transaction_base& tx_;
};

}  // namespace crm::gateway
