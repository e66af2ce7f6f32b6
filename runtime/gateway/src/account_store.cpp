#include "crm/gateway/account_store.hpp"

#include "crm/db/json.hpp"
#include "crm/error.hpp"

namespace crm::gateway {

long long UserStore::Create(const std::string& email, const std::string& password_hash) {
  auto rows = tx_.exec_params(
      "INSERT INTO gateway.users (email, password_hash) VALUES ($1, $2) ON CONFLICT DO NOTHING "
      "RETURNING id",
      email, password_hash);
  if (rows.empty()) {
    throw Conflict("email: an account with this address already exists; sign in instead", "email");
  }
  return rows[0][0].as<long long>();
}

long long UserStore::CreateOrPromoteAdmin(const std::string& email,
                                          const std::string& password_hash) {
  return tx_
      .exec_params1(
          "INSERT INTO gateway.users (email, password_hash, role) VALUES ($1, $2, 'admin') "
          "ON CONFLICT (lower(email)) DO UPDATE SET role = 'admin', password_hash = "
          "EXCLUDED.password_hash RETURNING id",
          email, password_hash)[0]
      .as<long long>();
}

std::optional<Credentials> UserStore::CredentialsOf(const std::string& email) {
  auto rows = tx_.exec_params(
      "SELECT id, password_hash, status FROM gateway.users WHERE lower(email) = $1", email);
  if (rows.empty()) {
    return std::nullopt;
  }
  return Credentials{rows[0]["id"].as<long long>(), rows[0]["password_hash"].as<std::string>(),
                     rows[0]["status"].as<std::string>() == "active"};
}

bool UserStore::HoldsEmailSha256(const std::string& email_sha256) {
  return tx_
      .exec_params1(
          "SELECT EXISTS (SELECT 1 FROM gateway.users WHERE gateway.email_sha256(email) = $1)",
          email_sha256)[0]
      .as<bool>();
}

std::optional<long long> UserStore::ActiveIdOf(const std::string& email) {
  auto rows = tx_.exec_params(
      "SELECT id FROM gateway.users WHERE lower(email) = $1 AND status = 'active'", email);
  return rows.empty() ? std::nullopt : std::optional(rows[0][0].as<long long>());
}

long long UserStore::IdOf(const std::string& email) {
  auto rows = tx_.exec_params("SELECT id FROM gateway.users WHERE lower(email) = $1", email);
  if (rows.empty()) {
    throw NotFound("email: no account with this address", "email");
  }
  return rows[0][0].as<long long>();
}

void UserStore::SetPasswordHash(long long user_id, const std::string& password_hash) {
  tx_.exec_params("UPDATE gateway.users SET password_hash = $2 WHERE id = $1", user_id,
                  password_hash);
}

void UserStore::Delete(long long user_id) {
  tx_.exec_params("DELETE FROM gateway.users WHERE id = $1", user_id);
}

nlohmann::json UserStore::ListJson() {
  auto r = tx_.exec1(
      "SELECT coalesce(json_agg(t ORDER BY t.id), '[]')::text FROM (SELECT u.id, u.email, "
      "u.role, u.status, u.created_at, sl.id AS slice_id, sl.state AS slice_state FROM "
      "gateway.users u LEFT JOIN gateway.slices sl ON sl.user_id = u.id AND sl.state NOT IN "
      "('destroying', 'destroyed')) t");
  return db::JsonOf(r[0]);
}

void PasswordResetStore::Create(const std::string& token_hash, long long user_id,
                                std::chrono::hours ttl) {
  tx_.exec_params(
      "INSERT INTO gateway.password_resets (token_hash, user_id, expires_at) "
      "VALUES (decode($1, 'hex'), $2, now() + make_interval(hours => $3))",
      token_hash, user_id, static_cast<int>(ttl.count()));
}

std::optional<long long> PasswordResetStore::Use(const std::string& token_hash) {
  auto rows = tx_.exec_params(
      "UPDATE gateway.password_resets SET used_at = now() "
      "WHERE token_hash = decode($1, 'hex') AND used_at IS NULL AND expires_at > now() "
      "RETURNING user_id",
      token_hash);
  return rows.empty() ? std::nullopt : std::optional(rows[0][0].as<long long>());
}

}  // namespace crm::gateway
