#include "crm/orchestrator/slice_store.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <sodium.h>

#include <array>
#include <cstring>

#include "crm/db/pool.hpp"
#include "crm/error.hpp"

namespace crm::orchestrator {
namespace {

using nlohmann::json;

constexpr const char* kSliceColumns =
    "id, state, user_id, endpoint, health, restarts, memory_limit_bytes, limit_mechanism, "
    "cpu_limit_cores, cpu_limit_mechanism, "
    "storage_bytes, storage_quota_bytes, last_error, pid, channel, phone_number_id, engine";

SliceInfo FromRow(const pqxx::row& r) {
  SliceInfo s;
  s.id = r["id"].as<long long>();
  s.state = ParseSliceState(r["state"].as<std::string>());
  if (!r["user_id"].is_null()) {
    s.user_id = r["user_id"].as<long long>();
  }
  s.endpoint = r["endpoint"].as<std::string>();
  s.health = r["health"].as<std::string>();
  s.restarts = r["restarts"].as<int>();
  s.memory_limit_bytes = r["memory_limit_bytes"].as<std::uint64_t>();
  s.limit_mechanism = r["limit_mechanism"].as<std::string>();
  s.cpu_limit_cores = r["cpu_limit_cores"].as<double>();
  s.cpu_limit_mechanism = r["cpu_limit_mechanism"].as<std::string>();
  s.storage_bytes = r["storage_bytes"].as<std::uint64_t>();
  s.storage_quota_bytes = r["storage_quota_bytes"].as<std::uint64_t>();
  s.last_error = r["last_error"].as<std::string>();
  if (!r["pid"].is_null()) {
    s.pid = r["pid"].as<int>();
  }
  s.channel = r["channel"].as<std::string>();
  if (!r["phone_number_id"].is_null()) {
    s.phone_number_id = r["phone_number_id"].as<std::string>();
  }
  if (!r["engine"].is_null()) {
    s.engine = r["engine"].as<std::string>();
  }
  return s;
}

NotFound NoSlice(long long id) {
  return NotFound("no slice with id " + std::to_string(id));
}

template <class T>
json OrNull(const std::optional<T>& value) {
  return value ? json(*value) : json(nullptr);
}

template <std::size_t N>
std::string Base64(const std::array<unsigned char, N>& bytes) {
  std::string out(sodium_base64_ENCODED_LEN(N, sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes.data(), N, sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

// `schemas` as a name[] literal; our own names only (checked), so none needs quoting.
std::string NameArray(const std::vector<std::string>& schemas) {
  std::string list = "{";
  for (const auto& schema : schemas) {
    db::Identifier(schema);
    list += (list.size() > 1 ? "," : "") + schema;
  }
  return list + "}";
}

}  // namespace

std::string ScramSecret(const std::string& password, int iterations) {
  for (char c : password) {
    if (c < 0x21 || c > 0x7e) {
      throw InputError("password: a SCRAM secret is computed here for printable ASCII only",
                       "password");
    }
  }
  if (iterations < 1) {
    throw InputError("iterations: expected at least 1", "iterations");
  }
  using Digest = std::array<unsigned char, SHA256_DIGEST_LENGTH>;
  std::array<unsigned char, 16> salt{};
  randombytes_buf(salt.data(), salt.size());
  Digest salted{};
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt.data(),
                        static_cast<int>(salt.size()), iterations, EVP_sha256(),
                        static_cast<int>(salted.size()), salted.data()) != 1) {
    throw RuntimeError("PBKDF2 failed while computing a SCRAM secret");
  }
  auto keyed = [&](const char* text) {
    Digest out{};
    unsigned int length = 0;
    if (HMAC(EVP_sha256(), salted.data(), static_cast<int>(salted.size()),
             reinterpret_cast<const unsigned char*>(text), std::strlen(text), out.data(),
             &length) == nullptr) {
      throw RuntimeError("HMAC failed while computing a SCRAM secret");
    }
    return out;
  };
  Digest client_key = keyed("Client Key");
  Digest stored_key{};
  SHA256(client_key.data(), client_key.size(), stored_key.data());
  Digest server_key = keyed("Server Key");
  return "SCRAM-SHA-256$" + std::to_string(iterations) + ":" + Base64(salt) + "$" +
         Base64(stored_key) + ":" + Base64(server_key);
}

json SliceIsolation::ToJson() const {
  return {{"uid", uid},
          {"gid", gid},
          {"own_uid", own_uid},
          {"dumpable", OrNull(dumpable)},
          {"secret_via_fd", secret_via_fd}};
}

json SliceInfo::ToJson() const {
  return {{"id", id},
          {"state", ToString(state)},
          {"user_id", OrNull(user_id)},
          {"endpoint", endpoint},
          {"health", health},
          {"restarts", restarts},
          {"memory_limit_bytes", memory_limit_bytes},
          {"limit_mechanism", limit_mechanism},
          {"cpu_limit_cores", cpu_limit_cores},
          {"cpu_limit_mechanism", cpu_limit_mechanism},
          {"memory_bytes", OrNull(memory_bytes)},
          {"storage_bytes", storage_bytes},
          {"storage_quota_bytes", storage_quota_bytes},
          {"pid", OrNull(pid)},
          {"channel", channel},
          {"phone_number_id", OrNull(phone_number_id)},
          {"engine", OrNull(engine)},
          {"last_error", last_error},
          {"isolation", isolation ? isolation->ToJson() : json(nullptr)}};
}

long long SliceStore::Insert(std::uint64_t storage_quota, std::uint64_t memory_limit,
                             const std::string& limit_mechanism, double cpu_limit_cores,
                             const std::string& cpu_limit_mechanism) {
  long long id = tx_.exec_params1(
                        "INSERT INTO gateway.slices (state, storage_quota_bytes, "
                        "memory_limit_bytes, limit_mechanism, cpu_limit_cores, "
                        "cpu_limit_mechanism) "
                        "VALUES ('provisioning', $1, $2, $3, $4, $5) RETURNING id",
                        static_cast<long long>(storage_quota), static_cast<long long>(memory_limit),
                        limit_mechanism, cpu_limit_cores, cpu_limit_mechanism)[0]
                     .as<long long>();
  tx_.exec_params(
      "INSERT INTO gateway.slice_events (slice_id, to_state, reason) VALUES ($1, 'provisioning', "
      "'warm pool')",
      id);
  return id;
}

SliceInfo SliceStore::Get(long long id) {
  auto rows = tx_.exec_params(
      std::string("SELECT ") + kSliceColumns + " FROM gateway.slices WHERE id = $1", id);
  if (rows.empty()) {
    throw NoSlice(id);
  }
  return FromRow(rows[0]);
}

std::vector<SliceInfo> SliceStore::List() {
  std::vector<SliceInfo> out;
  for (const auto& r :
       tx_.exec(std::string("SELECT ") + kSliceColumns + " FROM gateway.slices ORDER BY id")) {
    out.push_back(FromRow(r));
  }
  return out;
}

Transitioned SliceStore::Transition(long long id, SliceState to, const std::string& reason,
                                    std::optional<long long> user_id) {
  auto rows = tx_.exec_params("SELECT state FROM gateway.slices WHERE id = $1 FOR UPDATE", id);
  if (rows.empty()) {
    throw NoSlice(id);
  }
  SliceState from = ParseSliceState(rows[0][0].as<std::string>());
  CheckTransition(id, from, to);
  std::string state(ToString(to));
  if (user_id) {
    tx_.exec_params(
        "UPDATE gateway.slices SET state = $2, user_id = $3, updated_at = now() WHERE id = $1", id,
        state, *user_id);
  } else {
    tx_.exec_params("UPDATE gateway.slices SET state = $2, updated_at = now() WHERE id = $1", id,
                    state);
  }
  tx_.exec_params(
      "INSERT INTO gateway.slice_events (slice_id, from_state, to_state, reason) VALUES ($1, $2, "
      "$3, $4)",
      id, std::string(ToString(from)), state, reason);
  return {from, Get(id)};
}

std::optional<long long> SliceStore::TakeAvailable(long long user_id) {
  auto rows = tx_.exec_params(
      "UPDATE gateway.slices SET state = 'assigned', user_id = $1, updated_at = now() WHERE id = "
      "(SELECT id FROM gateway.slices WHERE state = 'available' ORDER BY id LIMIT 1 FOR UPDATE "
      "SKIP LOCKED) RETURNING id",
      user_id);
  if (rows.empty()) {
    return std::nullopt;
  }
  long long slice = rows[0][0].as<long long>();
  tx_.exec_params(
      "INSERT INTO gateway.slice_events (slice_id, from_state, to_state, reason) "
      "VALUES ($1, 'available', 'assigned', 'user ' || $2::text)",
      slice, user_id);
  return slice;
}

bool SliceStore::LockUser(long long user_id) {
  return !tx_.exec_params("SELECT 1 FROM gateway.users WHERE id = $1 FOR NO KEY UPDATE", user_id)
              .empty();
}

std::optional<long long> SliceStore::LiveSliceOf(long long user_id) {
  auto live = tx_.exec_params(
      "SELECT id FROM gateway.slices WHERE user_id = $1 AND state NOT IN ('destroying', "
      "'destroyed')",
      user_id);
  return live.empty() ? std::nullopt : std::optional(live[0][0].as<long long>());
}

void SliceStore::SetEndpoint(long long id, const std::string& endpoint) {
  tx_.exec_params("UPDATE gateway.slices SET endpoint = $2 WHERE id = $1", id, endpoint);
}

void SliceStore::MarkStarting(long long id, const std::string& endpoint, long long generation) {
  tx_.exec_params(
      "UPDATE gateway.slices SET endpoint = $2, running_generation = $3, health = 'restarting', "
      "updated_at = now() WHERE id = $1",
      id, endpoint, generation);
}

void SliceStore::ClearEndpointIf(long long id, const std::string& endpoint) {
  tx_.exec_params("UPDATE gateway.slices SET endpoint = '' WHERE id = $1 AND endpoint = $2", id,
                  endpoint);
}

long long SliceStore::BumpGeneration(long long id) {
  auto rows = tx_.exec_params(
      "UPDATE gateway.slices SET generation = generation + 1, updated_at = now() WHERE id = $1 "
      "RETURNING generation",
      id);
  if (rows.empty()) {
    throw NoSlice(id);
  }
  return rows[0][0].as<long long>();
}

bool SliceStore::RunsGeneration(long long id, long long generation) {
  auto rows = tx_.exec_params(
      "SELECT running_generation >= $2 AND health = 'healthy' AND endpoint <> '' FROM "
      "gateway.slices WHERE id = $1",
      id, generation);
  return !rows.empty() && rows[0][0].as<bool>();
}

std::vector<SliceStore::Placement> SliceStore::Placements() {
  std::vector<Placement> out;
  for (const auto& r : tx_.exec(
           "SELECT id, state IN ('available', 'assigned'), state = 'destroying', generation FROM "
           "gateway.slices WHERE state <> 'destroyed' ORDER BY id")) {
    out.push_back({r[0].as<long long>(), r[1].as<bool>(), r[2].as<bool>(), r[3].as<long long>()});
  }
  return out;
}

std::vector<long long> SliceStore::ProvisioningUntouchedFor(std::chrono::minutes age) {
  std::vector<long long> out;
  for (const auto& r : tx_.exec_params(
           "SELECT id FROM gateway.slices WHERE state = 'provisioning' AND updated_at < now() - "
           "make_interval(mins => $1)",
           static_cast<int>(age.count()))) {
    out.push_back(r[0].as<long long>());
  }
  return out;
}

void SliceStore::RecordHealth(long long id, const std::string& health, bool restarted,
                              std::optional<int> pid, const std::string& error) {
  tx_.exec_params(
      "UPDATE gateway.slices SET health = $2, restarts = restarts + $3, pid = $4, "
      "last_error = CASE WHEN $5 = '' THEN last_error ELSE $5 END, updated_at = now() WHERE id "
      "= $1",
      id, health, restarted ? 1 : 0, pid ? std::to_string(*pid).c_str() : nullptr, error);
}

void SliceStore::ClearRuntime(long long id) {
  tx_.exec_params(
      "UPDATE gateway.slices SET storage_bytes = 0, pid = NULL, health = 'stopped' WHERE id = $1",
      id);
}

void SliceStore::SetChannel(long long id, const std::string& channel,
                            const std::optional<std::string>& phone_number_id,
                            const std::optional<std::string>& engine) {
  try {
    tx_.exec_params(
        "UPDATE gateway.slices SET channel = $2, phone_number_id = $3, engine = $4, "
        "updated_at = now() WHERE id = $1",
        id, channel, phone_number_id ? phone_number_id->c_str() : nullptr,
        engine ? engine->c_str() : nullptr);
  } catch (const pqxx::unique_violation&) {
    throw Conflict(
        "phone_number_id: " + phone_number_id.value_or("") + " already belongs to another slice",
        "phone_number_id");
  }
}

SliceStore::Channel SliceStore::ChannelOf(long long id) {
  auto r = tx_.exec_params1(
      "SELECT channel, coalesce(phone_number_id, ''), coalesce(engine, '') FROM gateway.slices "
      "WHERE id = $1",
      id);
  return {r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>()};
}

std::uint64_t SliceStore::RecordStorage(long long id, const std::string& schema,
                                        std::uint64_t file_bytes) {
  std::uint64_t bytes = SchemaBytes({schema})[schema] + file_bytes;
  SetStorage(id, bytes);
  return bytes;
}

std::map<std::string, std::uint64_t> SliceStore::SchemaBytes(
    const std::vector<std::string>& schemas) {
  std::map<std::string, std::uint64_t> out;
  for (const auto& schema : schemas) {
    out[schema] = 0;
  }
  if (schemas.empty()) {
    return out;
  }
  for (const auto& r : tx_.exec_params(
           "SELECT n.nspname, coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM "
           "pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = "
           "ANY($1::name[]) AND c.relkind IN ('r', 'm') GROUP BY n.nspname",
           NameArray(schemas))) {
    out[r[0].as<std::string>()] = r[1].as<std::uint64_t>();
  }
  return out;
}

std::map<std::string, std::string> SliceStore::SchemaActivity(
    const std::vector<std::string>& schemas) {
  std::map<std::string, std::string> out;
  if (schemas.empty()) {
    return out;
  }
  for (const auto& r : tx_.exec_params(
           "SELECT schemaname::text, count(*) || ':' || sum(n_tup_ins + n_tup_upd + n_tup_del + "
           "n_live_tup + n_dead_tup + vacuum_count + autovacuum_count + analyze_count + "
           "autoanalyze_count) FROM pg_stat_user_tables WHERE schemaname = ANY($1::name[]) "
           "GROUP BY schemaname",
           NameArray(schemas))) {
    out[r[0].as<std::string>()] = r[1].as<std::string>();
  }
  return out;
}

void SliceStore::SetStorage(long long id, std::uint64_t bytes) {
  tx_.exec_params(
      "UPDATE gateway.slices SET storage_bytes = $2, storage_checked_at = now() WHERE id = $1", id,
      static_cast<long long>(bytes));
}

std::vector<long long> SliceStore::UsersWaiting() {
  std::vector<long long> ids;
  for (const auto& r : tx_.exec(
           "SELECT u.id FROM gateway.users u WHERE u.role = 'tenant' AND u.status = 'active' AND "
           "NOT EXISTS (SELECT 1 FROM gateway.slices s WHERE s.user_id = u.id) AND "
           // Billing on, pay first: an account that has not paid waits for its payment, not for
           // a warm slice (the webhook assigns one).
           "NOT EXISTS (SELECT 1 FROM gateway.subscriptions b WHERE b.user_id = u.id AND "
           "b.status = 'none') ORDER BY u.id LIMIT 100")) {
    ids.push_back(r[0].as<long long>());
  }
  return ids;
}

long long SliceStore::Count(std::initializer_list<SliceState> states) {
  std::string names;
  for (SliceState s : states) {
    names += (names.empty() ? "" : ", ") + tx_.quote(std::string(ToString(s)));
  }
  return tx_.exec1("SELECT count(*) FROM gateway.slices WHERE state IN (" + names + ")")[0]
      .as<long long>();
}

std::map<SliceState, long long> SliceStore::CountByState() {
  std::map<SliceState, long long> counts;
  for (const auto& r : tx_.exec("SELECT state, count(*) FROM gateway.slices GROUP BY state")) {
    counts[ParseSliceState(r[0].as<std::string>())] = r[1].as<long long>();
  }
  return counts;
}

std::optional<SliceRoute> SliceStore::RouteOf(const std::string& phone_number_id) {
  auto rows = tx_.exec_params(
      "SELECT id, state, endpoint FROM gateway.slices WHERE phone_number_id = $1 AND "
      "state NOT IN ('destroying', 'destroyed')",
      phone_number_id);
  if (rows.empty()) {
    return std::nullopt;
  }
  return SliceRoute{rows[0][0].as<long long>(), ParseSliceState(rows[0][1].c_str()),
                    rows[0][2].c_str()};
}

void SliceStore::CreateRole(const std::string& role, std::chrono::milliseconds statement_timeout) {
  std::string r = db::Identifier(role);
  // Membership lets the gateway's role create the schema owned by the slice's role and drop it
  // later.
  tx_.exec("CREATE ROLE " + r +
           " LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION CONNECTION LIMIT "
           "16;\nGRANT " +
           r + " TO CURRENT_USER;\nALTER ROLE " + r + " SET search_path = " + r + ";\nALTER ROLE " +
           r + " SET statement_timeout = " + tx_.quote(std::to_string(statement_timeout.count())));
}

void SliceStore::SetLogin(const std::string& role, const std::string& scram_secret,
                          std::chrono::milliseconds statement_timeout) {
  std::string r = db::Identifier(role);
  tx_.exec("ALTER ROLE " + r + " PASSWORD " + tx_.quote(scram_secret) + ";\nALTER ROLE " + r +
           " SET statement_timeout = " + tx_.quote(std::to_string(statement_timeout.count())));
}

void SliceStore::DropQueueSchema(const std::string& role) {
  std::string r = db::Identifier(role);
  if (tx_.exec_params("SELECT 1 FROM pg_roles WHERE rolname = $1", role).empty()) {
    tx_.exec("DROP SCHEMA IF EXISTS " + r + " CASCADE");
    return;
  }
  tx_.exec_params(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND datname = "
      "current_database()",
      role);
  tx_.exec("SET LOCAL ROLE " + r);
  tx_.exec("DROP SCHEMA IF EXISTS " + r + " CASCADE");
  tx_.exec("DROP OWNED BY " + r);
  tx_.exec("RESET ROLE");
  tx_.exec("SAVEPOINT drop_role");
  try {
    tx_.exec("DROP ROLE " + r);
    tx_.exec("RELEASE SAVEPOINT drop_role");
  } catch (const pqxx::sql_error&) {
    tx_.exec("ROLLBACK TO SAVEPOINT drop_role");
    // The slice's own database is in this cluster and still has its schema: dropped with it.
  }
}

void SliceStore::DropRoleAndSchema(const std::string& role) {
  std::string r = db::Identifier(role);
  bool exists = !tx_.exec_params("SELECT 1 FROM pg_roles WHERE rolname = $1", role).empty();
  if (exists) {
    tx_.exec_params("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1",
                    role);
    // As the role itself: a NOINHERIT gateway user (a pooled login, docs/operations.md,
    // "PostgreSQL behind PgBouncer") has no rights on the slice's objects without SET ROLE.
    tx_.exec("SET LOCAL ROLE " + r);
  }
  tx_.exec("DROP SCHEMA IF EXISTS " + r + " CASCADE");
  if (exists) {
    tx_.exec("DROP OWNED BY " + r);
    tx_.exec("RESET ROLE");
    tx_.exec("DROP ROLE " + r);
  }
}

}  // namespace crm::orchestrator
