// The SQL of gateway accounts: users and their password-reset links (the e-mails queued for them
// are crm::mail::MailOutbox's). Runs inside the caller's transaction; the caller commits.
#pragma once

#include <pqxx/pqxx>

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace crm::gateway {

/// What signing in needs to know about an account.
struct Credentials {
  long long user_id = 0;
  std::string password_hash;
  bool active = false;
};

class UserStore {
 public:
  explicit UserStore(pqxx::transaction_base& tx) : tx_(tx) {}

  /// A new tenant account. Throws Conflict naming "email" when the address has one.
  long long Create(const std::string& email, const std::string& password_hash);
  /// An administrator account, or an existing account made one with a new password.
  long long CreateOrPromoteAdmin(const std::string& email, const std::string& password_hash);
  /// By lower-cased address.
  std::optional<Credentials> CredentialsOf(const std::string& email);
  /// The active account with the address.
  std::optional<long long> ActiveIdOf(const std::string& email);
  /// Whether an account's lower-cased address has this SHA-256 (hex): another region's question.
  bool HoldsEmailSha256(const std::string& email_sha256);
  /// Throws NotFound naming "email".
  long long IdOf(const std::string& email);
  void SetPasswordHash(long long user_id, const std::string& password_hash);
  /// Deletes the account with its sessions and reset links (its slice row stays, unowned, as
  /// the record of what was destroyed).
  void Delete(long long user_id);
  /// Every account with its live slice, by id, as the admin API lists them.
  nlohmann::json ListJson();

 private:
  pqxx::transaction_base& tx_;
};

class PasswordResetStore {
 public:
  explicit PasswordResetStore(pqxx::transaction_base& tx) : tx_(tx) {}

  /// A reset link for `user_id`, known by `token_hash` (hex), valid for `ttl`.
  void Create(const std::string& token_hash, long long user_id, std::chrono::hours ttl);
  /// Marks the link used and returns its account; nullopt when it is unknown, used or expired.
  std::optional<long long> Use(const std::string& token_hash);

 private:
  pqxx::transaction_base& tx_;
};

}  // namespace crm::gateway
