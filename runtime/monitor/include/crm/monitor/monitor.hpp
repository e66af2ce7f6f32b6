// The monitor (docs/architecture.md, "Monitor"; docs/operations.md, "Monitoring"): a thread in
// the gateway that checks the slices and the host on their intervals, keeps the alert log,
// tells the administrators (mail, an optional signed webhook; rate-limited), samples telemetry
// and rolls it up. Of several gateways on one database only the holder of a PostgreSQL advisory
// lock works; the others retry.
#pragma once

#include <pqxx/pqxx>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "crm/clock.hpp"
#include "crm/db/leader.hpp"
#include "crm/db/pool.hpp"
#include "crm/monitor/alert_store.hpp"
#include "crm/monitor/backup_catalog.hpp"
#include "crm/monitor/checks.hpp"
#include "crm/monitor/readings.hpp"
#include "crm/monitor/reclaim.hpp"
#include "crm/monitor/telemetry_store.hpp"
#include "crm/orchestrator/orchestrator.hpp"

namespace crm::monitor {

struct MonitorOptions {
  bool enabled = true;
  /// Whether the slices' processes run on this host. Behind gateways they run on slice hosts,
  /// which supervise them: the checks that look at a slice's process, its /health and its
  /// channel (slice_down, slice_unresponsive, whatsapp_disconnected) and per-slice process
  /// telemetry are off here.
  bool slices_here = true;
  Thresholds thresholds;
  std::chrono::seconds process_interval{30};    ///< slice_down
  std::chrono::seconds health_interval{60};     ///< slice_unresponsive (GET /health)
  std::chrono::seconds whatsapp_interval{60};   ///< whatsapp_disconnected
  std::chrono::seconds storage_interval{300};   ///< slice_storage
  std::chrono::seconds telemetry_interval{60};  ///< samples, slice_memory, server_*
  std::chrono::seconds backup_interval{300};    ///< backup_stale (archiving, newest backup)
  /// The pgBackRest stanza whose newest backup backup_stale reads; empty: archiving only.
  std::string backup_stanza;
  std::string pgbackrest_config;  ///< its configuration file; empty: pgBackRest's default
  std::chrono::milliseconds probe_timeout{5'000};
  /// At most one notification per subject and kind this often.
  std::chrono::seconds notify_interval{1800};
  std::string webhook_url;                        ///< empty: no webhook
  std::string webhook_secret;                     ///< signs the webhook's body (X-CRM-Signature)
  std::string app_url = "http://localhost:8080";  ///< links in mails
  std::filesystem::path disk_path = "/var/lib/crmd";  ///< its file system is "the disk"
  /// A slice idle (no request, no event stream) this long has its memory reclaimed through
  /// cgroup v2 memory.reclaim, once per idle period; 0: never.
  std::chrono::seconds reclaim_idle{600};
  Retention retention;
  /// For tests only: "now" is the ISO 8601 time written in this file.
  std::filesystem::path clock_file;
};

/// What the checks see of a slice from its record (its process looked up by pid; memory as the
/// orchestrator measured it).
SliceObservation ObservationOf(const orchestrator::SliceInfo& slice);

/// A slice as the gateway's /metrics exports it: the monitor's latest telemetry pass, so a scrape
/// measures nothing (docs/operations.md, "Monitoring in the renderings").
struct SliceGauges {
  long long slice_id = 0;
  std::optional<std::uint64_t> memory_bytes;  ///< the cgroup's, else its process's RSS
  std::uint64_t memory_limit_bytes = 0;
  std::uint64_t storage_bytes = 0;
  std::uint64_t storage_quota_bytes = 0;
  /// Assigned slices whose channel was ever seen connected; nullopt otherwise (a warm slice, a
  /// tenant who has not paired yet): no series, so no alert for a phone never linked.
  std::optional<bool> whatsapp_connected;
  int restarts = 0;                        ///< since it was provisioned
  std::optional<long long> pending_tasks;  ///< queued tasks (its GET /api/status)
};

/// The JSON body of a webhook notification and its X-CRM-Signature value ("sha256=<hex>").
std::string WebhookBody(const OpenedAlert& alert, TimePoint now);
std::string WebhookSignature(const std::string& body, const std::string& secret);

class Monitor {
 public:
  using Connect = std::function<std::unique_ptr<pqxx::connection>()>;
  /// `connect` opens the dedicated connection the leader lock lives on. `probe` null: /proc and
  /// options.disk_path. `clock` null: the system clock (or options.clock_file's). `backups` null:
  /// `pgbackrest info` of options.backup_stanza, or none when that is empty.
  Monitor(MonitorOptions options, db::Pool& pool, orchestrator::Orchestrator& slices,
          Connect connect, std::unique_ptr<HostProbe> probe = nullptr, crm::Clock clock = nullptr,
          std::unique_ptr<BackupCatalog> backups = nullptr);
  ~Monitor();
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  void Start();
  void Stop();

  /// Whether this gateway holds the lock and works.
  bool leader() const { return leader_.leader(); }
  /// Each slice holding data as the latest telemetry pass saw it; empty on a gateway that does
  /// not lead (only the leader samples).
  std::vector<SliceGauges> LatestSlices() const;
  /// Idle memory reclaim: whether it works here, or why not (MemoryReclaimer::Status).
  nlohmann::json ReclaimStatus() const { return reclaimer_.Status(); }
  TimePoint Now() const { return clock_(); }
  const MonitorOptions& options() const { return options_; }

  /// The checks, callable directly (tests; the thread calls them when due). Each blocks.
  void CheckProcesses();
  void CheckHealth();
  void CheckWhatsApp();
  void CheckStorage();
  void SampleTelemetry();
  /// backup_stale from pg_stat_archiver and, with a stanza configured, its newest backup's age
  /// (`pgbackrest info`, at most a minute; run before the other checks' lock is taken).
  void CheckBackups();

 private:
  void Loop();
  bool HoldLeadership();
  /// Records `holding` for `kinds` in the alert log and tells whom to tell about new alerts.
  void Record(const std::vector<std::string>& kinds, const std::vector<Condition>& holding);
  std::vector<SliceObservation> Observe(const std::vector<orchestrator::SliceInfo>& slices);
  /// Fills the sample's gateway and PostgreSQL PSS where this host can read them.
  void RuntimeMemory(TelemetryStore& store, ServerSample& sample);

  MonitorOptions options_;
  db::Pool& pool_;
  orchestrator::Orchestrator& slices_;
  db::AdvisoryLeader leader_;
  std::unique_ptr<HostProbe> probe_;
  crm::Clock clock_;
  std::unique_ptr<BackupCatalog> backups_;  ///< null: no stanza configured

  std::mutex checks_mutex_;  ///< one check at a time: the state below is theirs
  ProcessCheck process_check_;
  WhatsAppCheck whatsapp_check_;
  ServerCheck server_check_;
  std::map<long long, std::string> wa_states_;
  struct SliceLoad {
    std::optional<int> streams;
    std::optional<long long> pending_tasks;
  };
  std::map<long long, SliceLoad> loads_;  ///< from the WhatsApp check's GET /api/status
  MemoryReclaimer reclaimer_;
  struct CpuSample {
    std::uint64_t jiffies = 0;
    std::chrono::steady_clock::time_point at;
  };
  std::map<long long, CpuSample> slice_cpu_;
  std::optional<std::pair<HostReading, std::chrono::steady_clock::time_point>> last_host_;

  mutable std::mutex gauges_mutex_;
  std::vector<SliceGauges> gauges_;  ///< LatestSlices()

  std::atomic<bool> running_{false};
  std::mutex wake_mutex_;
  std::condition_variable wake_;
  std::thread thread_;
};

}  // namespace crm::monitor
