#include "crm/gateway/session_store.hpp"

namespace crm::gateway {
namespace {

// The caller's slice: the live one, else the last destroyed one (so the API can say it is gone).
constexpr const char* kCallersSlice =
    "LEFT JOIN LATERAL (SELECT id, state, endpoint, storage_bytes, storage_quota_bytes FROM "
    "gateway.slices WHERE user_id = u.id "
    "ORDER BY state IN ('destroying', 'destroyed'), id DESC LIMIT 1) sl ON true";

Caller FromRow(const pqxx::row& r) {
  Caller out;
  out.user_id = r["id"].as<long long>();
  out.email = r["email"].as<std::string>();
  out.role = r["role"].as<std::string>();
  if (!r["slice_id"].is_null()) {
    out.slice_id = r["slice_id"].as<long long>();
    out.slice_state = orchestrator::ParseSliceState(r["state"].as<std::string>());
    out.slice_endpoint = r["endpoint"].as<std::string>();
    out.storage_bytes = r["storage_bytes"].as<std::uint64_t>();
    out.storage_quota_bytes = r["storage_quota_bytes"].as<std::uint64_t>();
  }
  return out;
}

}  // namespace

nlohmann::json UserJson(const Caller& c) {
  nlohmann::json slice = nullptr;
  if (c.slice_id) {
    slice = {{"id", *c.slice_id}, {"state", orchestrator::ToString(c.slice_state)}};
  }
  return {{"user", {{"id", c.user_id}, {"email", c.email}, {"role", c.role}}}, {"slice", slice}};
}

void SessionStore::Create(const std::string& token_hash, long long user_id,
                          std::chrono::seconds ttl, const std::string& ip,
                          const std::string& user_agent) {
  tx_.exec_params(
      "INSERT INTO gateway.sessions (token_hash, user_id, expires_at, ip, user_agent) "
      "VALUES (decode($1, 'hex'), $2, now() + make_interval(secs => $3), $4, $5)",
      token_hash, user_id, static_cast<long long>(ttl.count()), ip, user_agent);
}

std::optional<Caller> SessionStore::Touch(const std::string& token_hash, std::chrono::seconds ttl) {
  auto rows = tx_.exec_params(
      "WITH s AS (UPDATE gateway.sessions SET last_seen_at = now(), "
      "  expires_at = CASE WHEN expires_at < now() + make_interval(secs => $2) - interval '1 "
      "hour' THEN now() + make_interval(secs => $2) ELSE expires_at END "
      "  WHERE token_hash = decode($1, 'hex') AND expires_at > now() "
      "  RETURNING user_id, expires_at, (expires_at > now() + make_interval(secs => $2) - "
      "interval '1 minute') AS renewed) "
      "SELECT u.id, u.email, u.role, u.status, s.renewed, sl.id AS slice_id, sl.state, "
      "sl.endpoint, sl.storage_bytes, sl.storage_quota_bytes FROM s JOIN gateway.users u ON u.id = "
      "s.user_id " +
          std::string(kCallersSlice),
      token_hash, static_cast<long long>(ttl.count()));
  if (rows.empty() || rows[0]["status"].as<std::string>() != "active") {
    return std::nullopt;
  }
  Caller caller = FromRow(rows[0]);
  caller.renewed = rows[0]["renewed"].as<bool>();
  return caller;
}

Caller SessionStore::Load(long long user_id) {
  return FromRow(tx_.exec_params1(
      "SELECT u.id, u.email, u.role, sl.id AS slice_id, sl.state, sl.endpoint, sl.storage_bytes, "
      "sl.storage_quota_bytes FROM "
      "gateway.users u " +
          std::string(kCallersSlice) + " WHERE u.id = $1",
      user_id));
}

void SessionStore::Delete(const std::string& token_hash) {
  tx_.exec_params("DELETE FROM gateway.sessions WHERE token_hash = decode($1, 'hex')", token_hash);
}

void SessionStore::DeleteAllOf(long long user_id) {
  tx_.exec_params("DELETE FROM gateway.sessions WHERE user_id = $1", user_id);
}

void SessionStore::DeleteAllOfExcept(long long user_id, const std::string& keep_hash) {
  tx_.exec_params(
      "DELETE FROM gateway.sessions WHERE user_id = $1 AND token_hash <> decode($2, 'hex')",
      user_id, keep_hash);
}

}  // namespace crm::gateway
