// The orchestrator (runs in the gateway): keeps ≥ N warm slices, provisions and destroys them,
// moves them through the lifecycle (persisted in gateway.slices, every change logged in
// gateway.slice_events), and supervises their processes.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <vector>

#include "crm/db/pool.hpp"
#include "crm/error.hpp"
#include "crm/http/endpoint.hpp"
#include "crm/orchestrator/lifecycle.hpp"
#include "crm/orchestrator/limits.hpp"
#include "crm/orchestrator/slice_pooler.hpp"
#include "crm/orchestrator/slice_store.hpp"

namespace boost::process {
class child;
}

namespace crm::orchestrator {

/// Where this process stands in the deployment (docs/architecture.md, "Scale-out").
enum class Placement {
  kSingleHost,  ///< `--role all`: provisions slices and runs their processes here
  kGateway,     ///< `--role gateway`: provisions and moves slices; slice hosts run them
  kSliceHost,   ///< `--role slice-host`: runs the slices it serves; provisions none
};

/// The header a gateway proves itself with to a slice host (the shared internal token).
inline constexpr const char* kGatewayTokenHeader = "X-Crm-Gateway-Token";

struct OrchestratorOptions {
  Placement placement = Placement::kSingleHost;
  /// kSliceHost: where gateways reach this host ("10.0.0.5:8081"), recorded as the endpoint of
  /// every slice it runs; its own router relays to the slice's socket.
  std::string routed_address;
  /// kSliceHost: whether this host serves slice `id` now (its tenant hash ranges).
  std::function<bool(long long)> serves;
  /// kGateway: whether this gateway leads (keeps the warm pool); empty = always.
  std::function<bool()> leads;
  std::filesystem::path data_dir = "/var/lib/crmd";  ///< slices/<id>/: socket, log, files
  /// The crmd binary slices run; empty = this process's own binary.
  std::string slice_binary;
  int warm_slices = 1;  ///< available (or provisioning) slices kept ready
  /// Live (not destroyed) slices this server holds at most; 0 = unlimited.
  int max_slices = 0;
  std::uint64_t slice_memory_limit = 64ull << 20;
  double slice_cpu_limit = 0;  ///< cores per slice (0.5: half a core); 0 = none
  std::uint64_t slice_storage_quota = 2'000'000'000ull;
  std::chrono::milliseconds statement_timeout{30'000};  ///< set on each slice's role
  /// PostgreSQL, as the slices reach it (each as its own role, with a password set at each start
  /// and handed over through an inherited descriptor).
  std::string database_url = "postgresql:///crm";
  /// PostgreSQL itself when database_url is a transaction-pooling PgBouncer. Set, slices log in
  /// as database_url's user with database_password (handed over the same way) and become their
  /// own role in every transaction, that user being granted each slice's role
  /// (docs/operations.md, "PostgreSQL behind PgBouncer").
  std::string database_direct_url;
  std::string database_password;  ///< the pooled login's; unused unpooled
  /// The host's pooler for its slices (docs/operations.md, "Slices behind the host's pooler"),
  /// started with the orchestrator where slices run: each slice then reaches PostgreSQL through
  /// it, still as its own role. Nullopt: slices connect to database_url themselves.
  std::optional<SlicePoolerOptions> pooler;
  /// The queue database (QUEUE_DATABASE_URL; docs/architecture.md, "The queue database"): each
  /// slice's role and a schema of its name are made there too, migrated with the queue set at
  /// provisioning and at each start, dropped with the slice. Empty: none. Reached as its URL's
  /// user, with database_password when the URL has none.
  std::string queue_database_url;
  std::string default_channel = "simulator";    ///< for slices without a channel of their own
  std::string default_wa_web_engine = "noweb";  ///< for wa-web slices without an engine
  /// Given only to Cloud API slices, with their own phone number id.
  std::string cloud_api_url = "https://graph.facebook.com/v21.0";
  std::string cloud_api_token;
  /// Settings every slice process inherits, as CRM_* environment variables (built by crmd's
  /// wiring, which knows the configuration's names).
  std::map<std::string, std::string> slice_environment;
  /// How often every running slice's /health is probed; a slice that misses three probes in a
  /// row is killed and restarted under the crash-loop policy.
  std::chrono::milliseconds health_interval{5'000};
  /// How often the storage of the slices this host runs is recorded (RefreshStorage).
  std::chrono::milliseconds storage_interval{60'000};
  /// How often that pass sizes every schema, written or not (RefreshStorage): a size the
  /// server's statistics do not show changing (VACUUM FULL, REINDEX) is recorded at most this
  /// late. The first pass after a start is a full one.
  std::chrono::milliseconds storage_full_interval{3'600'000};
  /// Slice N runs as uid and gid `slice_uid_first + N` when crmd holds CAP_SETUID and
  /// CAP_SETGID; a slice past `slice_uid_last` is refused. 0: slices share crmd's uid.
  std::uint32_t slice_uid_first = 0;
  std::uint32_t slice_uid_last = 0;
};

/// The server already holds `max_slices` live slices (503 with Retry-After for a sign-up; the
/// admin API answers 409).
class ServerFull : public Unavailable {
 public:
  using Unavailable::Unavailable;
};

/// Every member that touches the database or processes blocks: call it from blocking work.
class Orchestrator {
 public:
  Orchestrator(OrchestratorOptions options, db::Pool& pool);
  ~Orchestrator();
  Orchestrator(const Orchestrator&) = delete;
  Orchestrator& operator=(const Orchestrator&) = delete;

  /// Starts the processes of every available/assigned slice recorded in the database, finishes
  /// interrupted provisioning/destroying, and starts the background work (supervision, warm pool,
  /// storage accounting).
  void Start();
  /// Stops the background work and every slice process (SIGTERM, then SIGKILL after 3 s).
  void Stop();

  /// provisioning → available: role, schema, migrations, process, health check. Throws
  /// ServerFull when the server already holds `max_slices` live slices. Several may run at once.
  SliceInfo Provision();
  /// Why no slice can be provisioned (the server holds `max_slices` live slices), naming the
  /// key; nullopt when there is room or no maximum.
  std::optional<std::string> FullReason();
  /// Gives `user_id` a warm slice (available → assigned) and wakes the warm-pool refill.
  /// Returns nullopt when none is warm.
  std::optional<long long> AssignWarm(long long user_id);
  /// A new tenant's slice, now: a warm one, else the one being provisioned, else a fresh one.
  long long AssignNow(long long user_id);
  /// An explicit assignment (admin): available (or provisioning) → assigned.
  SliceInfo Assign(long long slice_id, long long user_id);
  /// The slice's WhatsApp channel ("simulator", "cloud-api" with its phone number id, or
  /// "wa-web" with an optional engine, noweb or webjs); a running slice restarts to take it up.
  /// Throws InputError for a bad channel, number or engine, Conflict for a number another slice
  /// holds or a slice being destroyed, NotFound for no such slice.
  SliceInfo SetChannel(long long slice_id, const std::string& channel,
                       const std::optional<std::string>& phone_number_id,
                       const std::optional<std::string>& engine = std::nullopt);
  /// assigned → suspended: the process stops, the data stays.
  SliceInfo Suspend(long long slice_id, const std::string& reason);
  /// suspended → assigned: the process starts again.
  SliceInfo Resume(long long slice_id);
  /// → destroying → destroyed: process, schema, role and files removed.
  SliceInfo Destroy(long long slice_id, const std::string& reason);
  /// Restarts running slices `batch` at a time, waiting for each batch's health checks (behind
  /// gateways: each slice's host restarts it when its generation moves on).
  nlohmann::json RollingRestart(int batch);

  /// kSliceHost: starts the processes of the slices this host serves that should run, stops the
  /// others (a range moved away, a slice suspended or destroyed), restarts those whose
  /// generation moved on. Runs on its own every 2 s and when woken.
  void Reconcile();
  /// Runs the background work's next round now (the warm pool's refill; a slice host's
  /// reconciliation).
  void Wake();

  /// One slice, its storage measured now.
  SliceInfo Get(long long slice_id);
  std::vector<SliceInfo> List();

  /// Where slice `slice_id` serves HTTP: slices/<id>/http.sock, a link to the current process's
  /// own socket (http-<random>.sock), so a previous process still draining never removes what
  /// the gateway routes to. Nothing answers there when no process runs.
  http::Endpoint EndpointOf(long long slice_id) const;
  /// The isolation of the slice's running process; nullopt when none runs.
  std::optional<SliceIsolation> IsolationOf(long long slice_id) const;
  /// Slice processes this orchestrator supervises (running or waiting to be restarted).
  std::size_t ProcessCount() const {
    std::lock_guard lock(mutex_);
    return processes_.size();
  }
  /// Whether slices get uids of their own (a range is configured and crmd may setuid).
  bool SeparateUids() const { return uid_first_ != 0; }
  const MemoryLimiter& limiter() const { return limiter_; }
  /// The directory holding a slice's socket, password file, log and files.
  std::filesystem::path SliceDir(long long slice_id) const;

 private:
  struct Process;
  /// What a start knows of the slice's schema. kJustMigrated: its provisioning migrated it just
  /// before, and nothing has written to it since; the slice then starts without a database
  /// connection (CRM_SLICE_FRESH).
  enum class SchemaAt { kAnyState, kJustMigrated };
  /// Starts slice `slice_id`'s process; `generation` is recorded as the one it runs.
  void StartProcess(long long slice_id, bool await_health, long long generation = 0,
                    SchemaAt schema = SchemaAt::kAnyState);
  /// Whether slices' processes run in this process's children.
  bool RunsSlices() const { return options_.placement != Placement::kGateway; }
  /// kGateway: waits (bounded) until no host runs the slice (its endpoint is cleared).
  void AwaitStoppedElsewhere(long long slice_id);
  void StopProcess(long long slice_id);
  /// Probes every running slice whose probe is due; kills one that missed too many.
  void ProbeRunning();
  bool AwaitHealth(long long slice_id, std::chrono::milliseconds timeout);
  void Supervise();
  void Replenish();
  /// At start (not on a slice host): finishes what a previous run left half done, then starts
  /// the recorded slices that should run here.
  void CleanUpAndStartRecorded();
  /// One round of the background work, by placement.
  /// When the storage pass last ran, and last sized every schema (the replenisher's own).
  struct StoragePasses {
    std::optional<std::chrono::steady_clock::time_point> last;
    std::optional<std::chrono::steady_clock::time_point> last_full;
  };
  void BackgroundRound(StoragePasses& storage);
  SliceInfo Transition(long long slice_id, SliceState to, const std::string& reason,
                       std::optional<long long> user_id = std::nullopt);
  void RecordHealth(long long slice_id, const std::string& health, bool restarted,
                    const std::string& error = {});
  void DropSliceData(long long slice_id);
  /// Measures a slice's storage (its schema's tables and indexes + its files) and records it.
  std::uint64_t RecordStorage(const SliceInfo& slice);
  /// Recomputes every live slice's storage (schema size + files) and records it (the pass every
  /// storage_full_interval). With `only_changed`, a schema the server's statistics show unwritten
  /// since this process last sized it keeps that size (SliceStore::SchemaActivity): the pass
  /// every storage_interval, which would otherwise open every relation of every idle slice.
  /// Files are measured each time.
  void RefreshStorage(bool only_changed);
  /// A schema as last sized by RefreshStorage: its activity figure then, and its bytes.
  struct SchemaSeen {
    std::string activity;
    std::uint64_t bytes = 0;
  };
  std::mutex storage_mutex_;                 ///< one storage pass at a time
  std::map<long long, SchemaSeen> schemas_;  ///< by slice (under storage_mutex_)

  /// The slice's role (when that database is in another cluster) and its queue schema, up to
  /// date, in the queue database. Blocking.
  void EnsureQueueSchema(const std::string& role);

  OrchestratorOptions options_;
  db::Pool& pool_;
  std::unique_ptr<db::Pool> queue_pool_;  ///< the queue database, when there is one
  std::unique_ptr<SlicePooler> pooler_;   ///< the slices' pooler, when there is one
  MemoryLimiter limiter_;
  CpuLimiter cpu_limiter_;
  std::string binary_;
  std::uint32_t uid_first_ = 0;  ///< 0: no per-slice uids (not configured or not capable)

  mutable std::mutex mutex_;
  std::map<long long, std::unique_ptr<Process>> processes_;
  /// The capacity check and the insert of a new slice, one at a time: the cap and the warm count
  /// stay exact. The rest of a provisioning (role, schema, process) runs concurrently.
  std::mutex provision_mutex_;
  std::condition_variable provisioned_;  ///< a provisioning ended
  int provisioning_ = 0;                 ///< in flight (under provision_mutex_)
  long long provisionings_ended_ = 0;    ///< ever (under provision_mutex_)

  std::mutex reconcile_mutex_;  ///< one reconciliation at a time (its thread, the leases')
  std::atomic<bool> running_{false};
  std::mutex wake_mutex_;
  std::condition_variable wake_;
  bool woken_ = false;
  std::thread supervisor_;
  std::thread replenisher_;
  /// An epoll set of the launched slices' pidfds: Supervise learns of an exit from it instead of
  /// polling every slice's pidfd every round (40,000 system calls a second at 1,000 slices).
  int exits_ = -1;
};

}  // namespace crm::orchestrator
