// The orchestrator's SQL: each slice's row in gateway.slices and its lifecycle log in
// gateway.slice_events, and each slice's PostgreSQL role and schema. Runs inside the caller's
// transaction; the caller commits.
#pragma once

#include <pqxx/pqxx>

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "crm/orchestrator/lifecycle.hpp"

namespace crm::orchestrator {

/// What keeps a running slice from its neighbours, as observed (docs/architecture.md,
/// "Isolation").
struct SliceIsolation {
  std::uint32_t uid = 0;  ///< the process's real uid (from /proc/<pid>/status)
  std::uint32_t gid = 0;
  bool own_uid = false;  ///< a uid of its own, from the configured range
  /// Whether other processes of its uid may ptrace it or read its memory; nullopt when it runs
  /// as root, where /proc cannot tell.
  std::optional<bool> dumpable;
  bool secret_via_fd = false;  ///< its database password came through an inherited descriptor
  nlohmann::json ToJson() const;
};

/// A slice as recorded (plus its live memory use, which the caller fills in).
struct SliceInfo {
  long long id = 0;
  SliceState state = SliceState::kProvisioning;
  std::optional<long long> user_id;
  std::string endpoint;
  std::string health;
  int restarts = 0;
  std::uint64_t memory_limit_bytes = 0;
  std::string limit_mechanism;
  double cpu_limit_cores = 0;       ///< 0: no CPU limit
  std::string cpu_limit_mechanism;  ///< "cgroup-v2", "cgroup-v1", "unavailable" or "none"
  std::uint64_t storage_bytes = 0;
  std::uint64_t storage_quota_bytes = 0;
  std::string last_error;
  std::optional<int> pid;
  std::optional<std::uint64_t> memory_bytes;   ///< live, from the cgroup
  std::string channel;                         ///< "" = the deployment's default
  std::optional<std::string> phone_number_id;  ///< Cloud API number its webhooks route by
  std::optional<std::string> engine;           ///< wa-web: noweb or webjs; none = the default
  std::optional<SliceIsolation> isolation;     ///< live, while its process runs
  /// Whether its process should run: available or assigned.
  bool runs() const { return state == SliceState::kAvailable || state == SliceState::kAssigned; }
  /// Whether it holds data to account: available, assigned or suspended.
  bool holds_data() const { return runs() || state == SliceState::kSuspended; }
  nlohmann::json ToJson() const;
};

/// A lifecycle move that happened: from where, and the slice after it.
struct Transitioned {
  SliceState from = SliceState::kProvisioning;
  SliceInfo slice;
};

/// Where a webhook for a phone number goes.
struct SliceRoute {
  long long slice_id = 0;
  SliceState state = SliceState::kProvisioning;
  std::string endpoint;
};

/// PBKDF2 iterations of the SCRAM secrets a slice's start stores (SetLogin). They exist to slow
/// down guessing a password from a stolen secret; a slice's password is 192 random bits, fresh at
/// each start, so there is nothing to guess and they would only cost CPU: PostgreSQL's 4,096
/// took 7 ms of the server's CPU at each password change and as much of the slice's at each
/// connection (docs/benchmarks.md, "Density").
inline constexpr int kScramIterations = 1;

/// The SCRAM-SHA-256 secret of `password` with a random salt, as PostgreSQL stores it in
/// pg_authid ("SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>", RFC 5802 and 7677):
/// given as a role's PASSWORD, PostgreSQL keeps it as it is. `password` must be printable ASCII
/// (SASLprep leaves it unchanged); throws InputError otherwise.
std::string ScramSecret(const std::string& password, int iterations);

class SliceStore {
 public:
  explicit SliceStore(pqxx::transaction_base& tx) : tx_(tx) {}

  // --- rows ---------------------------------------------------------------------------------
  /// A new slice in `provisioning` (logged as for the warm pool). Returns its id.
  long long Insert(std::uint64_t storage_quota, std::uint64_t memory_limit,
                   const std::string& limit_mechanism, double cpu_limit_cores = 0,
                   const std::string& cpu_limit_mechanism = "none");
  /// Throws NotFound.
  SliceInfo Get(long long id);
  /// Every slice, by id.
  std::vector<SliceInfo> List();
  /// Moves slice `id` to `to` (and to `user_id`, when given), logging why. Locks the row; throws
  /// NotFound, or Conflict when the lifecycle forbids the move.
  Transitioned Transition(long long id, SliceState to, const std::string& reason,
                          std::optional<long long> user_id = std::nullopt);
  /// Gives `user_id` the oldest available slice (skipping rows others hold). nullopt when none
  /// is available; pqxx::unique_violation when the user got a live slice meanwhile.
  std::optional<long long> TakeAvailable(long long user_id);
  /// The user's slice that is not destroying or destroyed.
  std::optional<long long> LiveSliceOf(long long user_id);
  /// Locks the user's row until the transaction ends (FOR NO KEY UPDATE: references to the user
  /// are not blocked), so that two assignments to one user, in one process or two, take turns:
  /// TakeAvailable skips a slice another transaction holds, which may be the one being assigned
  /// to this very user. False when there is no such user.
  bool LockUser(long long user_id);
  void SetEndpoint(long long id, const std::string& endpoint);
  /// A slice host starts the slice's process: where gateways reach it, the generation it runs,
  /// and health `restarting` until its first health check passes.
  void MarkStarting(long long id, const std::string& endpoint, long long generation);
  /// Clears the endpoint if it is still `endpoint` (another host may have recorded its own).
  void ClearEndpointIf(long long id, const std::string& endpoint);
  /// Asks for a restart wherever the slice runs; returns the new generation.
  long long BumpGeneration(long long id);
  /// Whether the slice's host runs generation `generation` (or later) and found it healthy.
  bool RunsGeneration(long long id, long long generation);
  /// What a slice host needs to place every slice that is not destroyed.
  struct Placement {
    long long id = 0;
    bool runs = false;        ///< available or assigned
    bool destroying = false;  ///< its data is going
    long long generation = 0;
  };
  std::vector<Placement> Placements();
  /// Slices in provisioning whose row nobody touched for `age` (their provisioning died).
  std::vector<long long> ProvisioningUntouchedFor(std::chrono::minutes age);
  void RecordHealth(long long id, const std::string& health, bool restarted, std::optional<int> pid,
                    const std::string& error);
  /// After the process and the data are gone: no storage, no pid, stopped.
  void ClearRuntime(long long id);
  /// Throws Conflict naming "phone_number_id" when another slice has the number.
  void SetChannel(long long id, const std::string& channel,
                  const std::optional<std::string>& phone_number_id,
                  const std::optional<std::string>& engine = std::nullopt);
  /// A slice's own channel settings.
  struct Channel {
    std::string channel;          ///< "" = the default
    std::string phone_number_id;  ///< Cloud API number, "" = none
    std::string engine;           ///< wa-web engine, "" = the default
  };
  Channel ChannelOf(long long id);
  /// Measures the schema's tables and indexes, adds `file_bytes` and records the total.
  std::uint64_t RecordStorage(long long id, const std::string& schema, std::uint64_t file_bytes);
  /// The tables and indexes of each of `schemas` in bytes, in one pass over pg_class (it has no
  /// index by schema: one query per schema read it whole each time). A schema without any is 0.
  std::map<std::string, std::uint64_t> SchemaBytes(const std::vector<std::string>& schemas);
  /// What has been written to each of `schemas`, one figure a schema, from the server's
  /// statistics (pg_stat_user_tables: rows inserted, updated, deleted, live and dead, vacuums
  /// and analyzes; no relation opened, unlike SchemaBytes). A schema whose figure has not moved
  /// has not been written to, as far as its statistics have reported yet (a backend reports
  /// within about 10 s, and at its exit). A schema without tables is absent.
  std::map<std::string, std::string> SchemaActivity(const std::vector<std::string>& schemas);
  /// Records a slice's storage measured now.
  void SetStorage(long long id, std::uint64_t bytes);

  // --- counts and routes (the gateway's /ready, /metrics and webhook) ------------------------
  /// Active tenants without any slice, oldest first (at most 100).
  std::vector<long long> UsersWaiting();
  long long Count(std::initializer_list<SliceState> states);
  std::map<SliceState, long long> CountByState();
  /// The live (not destroying or destroyed) slice with the Cloud API number.
  std::optional<SliceRoute> RouteOf(const std::string& phone_number_id);

  // --- the slice's role and schema ----------------------------------------------------------
  /// A login role `role` (no other rights) without a password (nobody logs in as it until a
  /// process start sets one), its search_path and statement timeout, granted to the gateway's
  /// role so it can create and drop the schema. One round trip.
  void CreateRole(const std::string& role, std::chrono::milliseconds statement_timeout);
  /// Gives the role a new password as its SCRAM-SHA-256 secret `scram_secret` (ScramSecret's
  /// with kScramIterations: each slice process gets a fresh password; none is kept), and
  /// `statement_timeout` as its setting, in one round trip. Behind the host's pooler a slice's
  /// settings are its role's, so they follow the configuration at each start.
  void SetLogin(const std::string& role, const std::string& scram_secret,
                std::chrono::milliseconds statement_timeout);
  /// Ends the role's sessions, drops its schema (everything in it) and the role.
  void DropRoleAndSchema(const std::string& role);
  /// In the queue database: drops the slice's schema and what its role owns there, then the
  /// role, unless the role still owns objects in another database of the same cluster (the
  /// slice's own, dropped after this). Nothing when neither exists.
  void DropQueueSchema(const std::string& role);

 private:
  pqxx::transaction_base& tx_;
};

}  // namespace crm::orchestrator
