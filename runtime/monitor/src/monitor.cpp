#include "crm/monitor/monitor.hpp"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>

#include "crm/hmac.hpp"
#include "crm/http/probe.hpp"
#include "crm/http_client.hpp"
#include "crm/json.hpp"
#include "crm/mail/outbox.hpp"

namespace crm::monitor {
namespace {

using Steady = std::chrono::steady_clock;
using orchestrator::SliceInfo;
using orchestrator::SliceState;

// An arbitrary constant of our own: the advisory lock only monitors take.
constexpr long long kLeaderLockKey = 0x63726d6d6f6e;  // "crmmon"

const std::vector<std::string> kServerKinds = {"server_disk", "server_ram", "server_cpu",
                                               "server_swapin"};

// Why this host's slices cannot have memory reclaimed; empty when cgroup v2 may allow it.
std::string ReclaimUnavailable(const orchestrator::MemoryLimiter& limiter) {
  switch (limiter.mechanism()) {
    case orchestrator::LimitMechanism::kCgroupV2:
      return {};
    case orchestrator::LimitMechanism::kCgroupV1:
      return "slices are in cgroup v1 groups; memory.reclaim exists only in cgroup v2";
    case orchestrator::LimitMechanism::kRlimit:
      return "slices have no memory cgroup (rlimit-as limits); memory.reclaim needs cgroup v2";
  }
  return "unknown memory limit mechanism";
}

bool Alive(std::optional<int> pid) {
  return pid && *pid > 0 && (::kill(*pid, 0) == 0 || errno == EPERM);
}

}  // namespace

SliceObservation ObservationOf(const SliceInfo& s) {
  SliceObservation o;
  o.id = s.id;
  o.should_run = s.runs();
  o.assigned = s.state == SliceState::kAssigned;
  o.health = s.health;
  o.restarts = s.restarts;
  o.process_alive = Alive(s.pid);
  o.memory_bytes = s.memory_bytes;
  o.memory_limit_bytes = s.memory_limit_bytes;
  o.storage_bytes = s.storage_bytes;
  o.storage_quota_bytes = s.storage_quota_bytes;
  return o;
}

std::string WebhookBody(const OpenedAlert& alert, TimePoint now) {
  return nlohmann::json{{"id", alert.id},
                        {"subject", alert.condition.subject},
                        {"kind", alert.condition.kind},
                        {"severity", ToString(alert.condition.severity)},
                        {"message", alert.condition.message},
                        {"opened_at", crm::FormatIso(now)}}
      .dump();
}

std::string WebhookSignature(const std::string& body, const std::string& secret) {
  return "sha256=" + HmacSha256Hex(secret, body);
}

Monitor::Monitor(MonitorOptions options, db::Pool& pool, orchestrator::Orchestrator& slices,
                 Connect connect, std::unique_ptr<HostProbe> probe, crm::Clock clock,
                 std::unique_ptr<BackupCatalog> backups)
    : options_(std::move(options)),
      pool_(pool),
      slices_(slices),
      leader_(std::move(connect), kLeaderLockKey, "monitor"),
      probe_(probe ? std::move(probe)
                   : std::make_unique<ProcHostProbe>("/proc", options_.disk_path)),
      reclaimer_(
          options_.enabled ? options_.reclaim_idle : std::chrono::seconds(0),
          [limits = &slices.limiter()](long long id) { return limits->GroupDir(id); },
          ReclaimUnavailable(slices.limiter())) {
  if (clock) {
    clock_ = std::move(clock);
  } else if (!options_.clock_file.empty()) {
    clock_ = crm::FileClock(options_.clock_file);
  } else {
    clock_ = crm::SystemClock();
  }
  if (backups) {
    backups_ = std::move(backups);
  } else if (!options_.backup_stanza.empty()) {
    backups_ =
        std::make_unique<PgBackRestCatalog>(options_.backup_stanza, options_.pgbackrest_config);
  } else if (options_.enabled) {
    // Said once: without a stanza an hourly full backup and a month-old one look the same.
    spdlog::info(
        "monitor: backup_stale checks WAL archiving only (CRM_BACKUP_STANZA is unset: the newest "
        "backup's age is not read)");
  }
}

Monitor::~Monitor() {
  Stop();
}

void Monitor::Start() {
  if (!options_.enabled || running_.exchange(true)) {
    return;
  }
  thread_ = std::thread([this] { Loop(); });
}

void Monitor::Stop() {
  if (!running_.exchange(false)) {
    return;
  }
  {
    std::lock_guard lock(wake_mutex_);
    wake_.notify_all();
  }
  thread_.join();
  leader_.Release();
  std::lock_guard lock(gauges_mutex_);
  gauges_.clear();
}

std::vector<SliceGauges> Monitor::LatestSlices() const {
  std::lock_guard lock(gauges_mutex_);
  return gauges_;
}

bool Monitor::HoldLeadership() {
  bool lead = leader_.Hold();
  if (!lead) {
    // Another gateway samples now: its numbers, not our last ones, are current.
    std::lock_guard lock(gauges_mutex_);
    gauges_.clear();
  }
  return lead;
}

void Monitor::Loop() {
  struct Due {
    std::chrono::seconds every;
    void (Monitor::*check)();
    Steady::time_point next;
    const char* name;
  };
  auto start = Steady::now();
  std::vector<Due> checks = {
      {options_.process_interval, &Monitor::CheckProcesses, start, "processes"},
      {options_.health_interval, &Monitor::CheckHealth, start, "health"},
      {options_.whatsapp_interval, &Monitor::CheckWhatsApp, start, "whatsapp"},
      {options_.storage_interval, &Monitor::CheckStorage, start, "storage"},
      {options_.telemetry_interval, &Monitor::SampleTelemetry, start, "telemetry"},
      {options_.backup_interval, &Monitor::CheckBackups, start, "backups"}};
  if (!options_.slices_here) {
    std::erase_if(checks, [](const Due& due) {
      return due.check == &Monitor::CheckProcesses || due.check == &Monitor::CheckHealth ||
             due.check == &Monitor::CheckWhatsApp;
    });
  }
  auto next_lock_try = start;
  while (running_) {
    auto now = Steady::now();
    bool lead = leader_.leader();
    bool due_now = std::any_of(checks.begin(), checks.end(),
                               [now](const Due& due) { return now >= due.next; });
    // The leader confirms its lock's session before each round of checks: a session that ended
    // (the server restarted, the connection was cut) freed the lock for another gateway, and
    // this one must not write alongside it until the next retry.
    if (now >= next_lock_try || (lead && due_now)) {
      lead = HoldLeadership();
      if (now >= next_lock_try) {
        // A follower retries at the shortest check interval: it takes over within one.
        next_lock_try = now + std::chrono::seconds(5);
      }
    }
    auto wake_at = next_lock_try;
    for (auto& due : checks) {
      if (lead && now >= due.next) {
        try {
          (this->*due.check)();
        } catch (const std::exception& e) {
          spdlog::error("monitor: {} check: {}", due.name, e.what());
        }
        due.next = Steady::now() + due.every;
      }
      wake_at = std::min(wake_at, due.next);
    }
    std::unique_lock lock(wake_mutex_);
    wake_.wait_until(lock, std::max(wake_at, Steady::now() + std::chrono::milliseconds(50)),
                     [this] { return !running_; });
  }
}

std::vector<SliceObservation> Monitor::Observe(const std::vector<SliceInfo>& slices) {
  std::vector<SliceObservation> out;
  for (const auto& s : slices) {
    if (s.state == SliceState::kDestroyed) {
      continue;
    }
    SliceObservation o = ObservationOf(s);
    if (!options_.slices_here) {
      o.process_alive = false;  // its pid is a slice host's, not one of ours
    }
    if (!o.memory_bytes && o.process_alive) {
      // rlimit hosts have no cgroup to ask: the process's resident set stands in.
      if (auto p = probe_->Process(*s.pid)) {
        o.memory_bytes = p->rss_bytes;
      }
    }
    out.push_back(o);
  }
  return out;
}

void Monitor::Record(const std::vector<std::string>& kinds, const std::vector<Condition>& holding) {
  TimePoint now = Now();
  std::vector<OpenedAlert> notify;
  pool_.Write([&](pqxx::work& tx) {
    AlertStore alerts(tx);
    notify.clear();
    for (auto& opened : alerts.Reconcile(kinds, holding, now)) {
      spdlog::warn("monitor: alert {} opened: {} {}: {}", opened.id, opened.condition.subject,
                   opened.condition.kind, opened.condition.message);
      if (!MayNotify(alerts.LastNotified(opened.condition.subject, opened.condition.kind), now,
                     options_.notify_interval)) {
        continue;
      }
      nlohmann::json params = {{"subject", opened.condition.subject},
                               {"kind", opened.condition.kind},
                               {"severity", ToString(opened.condition.severity)},
                               {"message", opened.condition.message},
                               {"opened_at", crm::FormatIso(now)},
                               {"link", options_.app_url + "/admin/"}};
      mail::MailOutbox outbox(tx);
      for (const auto& admin : alerts.AdminEmails()) {
        outbox.Queue(admin, "alert", params);
      }
      if (opened.condition.kind == "whatsapp_disconnected") {
        long long slice_id = std::stoll(opened.condition.subject.substr(6));
        if (auto tenant = alerts.TenantEmail(slice_id)) {
          outbox.Queue(*tenant, "whatsapp_disconnected",
                       {{"link", options_.app_url + "/app/connect"}});
        }
      }
      alerts.MarkNotified(opened.id, now);
      notify.push_back(opened);
    }
  });
  if (options_.webhook_url.empty()) {
    return;
  }
  // After the commit: a slow or failing receiver never holds the alert log's transaction.
  for (const auto& opened : notify) {
    HttpRequest request;
    request.method = "POST";
    request.url = options_.webhook_url;
    request.body = WebhookBody(opened, now);
    request.headers = {"Content-Type: application/json"};
    if (!options_.webhook_secret.empty()) {
      request.headers.push_back("X-CRM-Signature: " +
                                WebhookSignature(request.body, options_.webhook_secret));
    }
    request.timeout = std::chrono::seconds(10);
    HttpResponse response = HttpFetch(request);
    if (response.status / 100 != 2) {
      spdlog::warn(
          "monitor: alert webhook for alert {} failed: {}", opened.id,
          response.status == 0 ? response.error : "HTTP " + std::to_string(response.status));
    }
  }
}

void Monitor::CheckProcesses() {
  std::lock_guard lock(checks_mutex_);
  auto observed = Observe(slices_.List());
  Record({"slice_down"}, process_check_.Evaluate(observed));
  // A server at CRM_MAX_SLICES refuses new tenants: the operator must hear of it.
  std::vector<Condition> full;
  if (auto reason = slices_.FullReason()) {
    full.push_back(
        {"server", "server_slices_full", Severity::kWarning, *reason + "; new sign-ups get 503"});
  }
  Record({"server_slices_full"}, full);
}

void Monitor::CheckHealth() {
  std::lock_guard lock(checks_mutex_);
  std::vector<Condition> holding;
  for (const auto& s : Observe(slices_.List())) {
    if (!s.should_run || !s.process_alive || s.health != "healthy") {
      continue;  // slice_down speaks for it
    }
    auto answer = http::ProbeGet(slices_.EndpointOf(s.id), "/health", options_.probe_timeout);
    if (answer.status / 100 != 2) {
      holding.push_back(
          {SliceSubject(s.id), "slice_unresponsive", Severity::kCritical,
           fmt::format(
               "slice {} did not answer GET /health within {} ms ({})", s.id,
               options_.probe_timeout.count(),
               answer.status == 0 ? "no answer" : "HTTP " + std::to_string(answer.status))});
    }
  }
  Record({"slice_unresponsive"}, holding);
}

void Monitor::CheckWhatsApp() {
  std::lock_guard lock(checks_mutex_);
  TimePoint now = Now();
  std::vector<Condition> holding;
  std::vector<long long> live;
  std::map<long long, std::string> states;
  std::map<long long, SliceLoad> loads;
  for (const auto& s : Observe(slices_.List())) {
    if (!s.assigned) {
      continue;
    }
    live.push_back(s.id);
    std::optional<std::string> state;
    std::string detail;
    if (s.process_alive) {
      auto answer = http::ProbeGet(slices_.EndpointOf(s.id), "/api/status", options_.probe_timeout);
      if (answer.status == 200) {
        auto body = ParseJsonOrDiscarded(answer.body);
        if (body.is_object() && body["channel"].is_object() &&
            body["channel"]["state"].is_string()) {
          state = body["channel"]["state"].get<std::string>();
          states[s.id] = *state;
          if (body["channel"].contains("detail") && body["channel"]["detail"].is_string()) {
            detail = body["channel"]["detail"].get<std::string>();
          }
        }
        if (body.is_object() && body["streams"].is_number_integer() &&
            body["pending_tasks"].is_number_integer()) {
          loads[s.id] = {body["streams"].get<int>(), body["pending_tasks"].get<long long>()};
        }
      }
    }
    if (auto c =
            whatsapp_check_.Observe(s.id, state, now, options_.thresholds.whatsapp_grace, detail)) {
      holding.push_back(*c);
    }
  }
  whatsapp_check_.Retain(live);
  wa_states_ = std::move(states);
  loads_ = std::move(loads);
  Record({"whatsapp_disconnected"}, holding);
}

void Monitor::CheckStorage() {
  std::lock_guard lock(checks_mutex_);
  // As the hosts that run the slices recorded it (every slice_storage_interval): only they see
  // the slices' files, and sizing every schema here too cost PostgreSQL seconds of CPU a pass
  // at 1,000 slices.
  std::vector<Condition> holding;
  for (const auto& s : Observe(slices_.List())) {
    if (auto c = StorageCondition(s, options_.thresholds)) {
      holding.push_back(*c);
    }
  }
  Record({"slice_storage"}, holding);
}

void Monitor::CheckBackups() {
  BackupObservation b;
  if (backups_) {
    // Outside checks_mutex_: a slow repository delays this check only.
    b.stanza_configured = true;
    try {
      b.newest_backup = backups_->NewestBackup();
    } catch (const std::exception& e) {
      b.info_error = e.what();
    }
  }
  std::lock_guard lock(checks_mutex_);
  pool_.Read([&](pqxx::read_transaction& tx) {
    // Readable by any role: the archiver's counters and the setting, no superuser needed.
    const pqxx::row r = tx.exec1(
        "SELECT current_setting('archive_mode') <> 'off', "
        "extract(epoch FROM last_archived_time)::bigint, "
        "extract(epoch FROM last_failed_time)::bigint, last_failed_wal FROM pg_stat_archiver");
    b.archive_mode_on = r[0].as<bool>();
    if (!r[1].is_null()) {
      b.last_archived = TimePoint{std::chrono::seconds(r[1].as<long long>())};
    }
    if (!r[2].is_null()) {
      b.last_failed = TimePoint{std::chrono::seconds(r[2].as<long long>())};
    }
    if (!r[3].is_null()) {
      b.last_failed_wal = r[3].as<std::string>();
    }
  });
  std::vector<Condition> holding;
  if (auto c = BackupStaleCondition(b, clock_(), options_.thresholds)) {
    holding.push_back(*c);
  }
  Record({"backup_stale"}, holding);
}

void Monitor::RuntimeMemory(TelemetryStore& store, ServerSample& sample) {
  if (auto self = probe_->Process(::getpid()); self && self->pss_bytes > 0) {
    sample.gateway_pss_bytes = self->pss_bytes;
  }
  // PostgreSQL counts only when it runs on this host: our own backend must be a local `postgres`
  // process (from another host its pid would name an unrelated process here, or none).
  auto [own, pids] = store.PgPids();
  auto backend = probe_->Process(static_cast<pid_t>(own));
  if (!backend || backend->command != "postgres" || backend->pss_bytes == 0) {
    return;
  }
  // The postmaster is not in pg_stat_activity: it is our backend's parent.
  pids.push_back(static_cast<int>(backend->parent_pid));
  std::sort(pids.begin(), pids.end());
  pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
  std::uint64_t total = 0;
  for (int pid : pids) {
    if (auto p = probe_->Process(static_cast<pid_t>(pid)); p && p->command == "postgres") {
      total += p->pss_bytes;
    }
  }
  sample.postgres_pss_bytes = total;
}

void Monitor::SampleTelemetry() {
  std::lock_guard lock(checks_mutex_);
  TimePoint now = Now();
  auto steady_now = Steady::now();
  auto infos = slices_.List();
  auto observed = Observe(infos);

  // The host: rates from the previous reading.
  HostReading host = probe_->Host();
  std::optional<HostRates> rates;
  if (last_host_) {
    rates = RatesBetween(last_host_->first, host,
                         std::chrono::duration<double>(steady_now - last_host_->second));
  }
  last_host_ = {host, steady_now};
  std::vector<Condition> server = server_check_.Evaluate(host, rates, now, options_.thresholds);
  std::vector<Condition> memory;
  for (const auto& s : observed) {
    if (auto c = MemoryCondition(s, options_.thresholds)) {
      memory.push_back(*c);
    }
  }

  // Each slice process: memory, and CPU from its previous reading.
  std::vector<SliceSample> samples;
  std::map<long long, CpuSample> cpu;
  long ticks = probe_->TicksPerSecond();
  int running = 0;
  for (const auto& info : infos) {
    if (!info.holds_data()) {
      continue;
    }
    SliceSample sample;
    sample.slice_id = info.id;
    sample.storage_bytes = info.storage_bytes;
    if (auto it = wa_states_.find(info.id); it != wa_states_.end()) {
      sample.wa_state = it->second;
    }
    if (auto it = loads_.find(info.id); it != loads_.end()) {
      sample.streams = it->second.streams;
      sample.pending_tasks = it->second.pending_tasks;
    }
    if (options_.slices_here && Alive(info.pid)) {
      ++running;
      if (auto p = probe_->Process(*info.pid)) {
        sample.rss_bytes = p->rss_bytes;
        sample.pss_bytes = p->pss_bytes;
        sample.swap_bytes = p->swap_bytes;
        cpu[info.id] = {p->cpu_jiffies, steady_now};
        auto before = slice_cpu_.find(info.id);
        if (before != slice_cpu_.end() && p->cpu_jiffies >= before->second.jiffies) {
          double seconds = std::chrono::duration<double>(steady_now - before->second.at).count();
          if (seconds > 0) {
            sample.cpu_percent = 100.0 *
                                 static_cast<double>(p->cpu_jiffies - before->second.jiffies) /
                                 static_cast<double>(ticks) / seconds;
          }
        }
      }
    }
    samples.push_back(sample);
  }
  slice_cpu_ = std::move(cpu);

  pool_.Write([&](pqxx::work& tx) {
    TelemetryStore store(tx);
    ServerSample s;
    s.ram_total_bytes = host.ram_total_bytes;
    s.ram_used_bytes = host.ram_total_bytes > host.ram_available_bytes
                           ? host.ram_total_bytes - host.ram_available_bytes
                           : 0;
    s.swap_total_bytes = host.swap_total_bytes;
    s.swap_used_bytes = host.swap_total_bytes > host.swap_free_bytes
                            ? host.swap_total_bytes - host.swap_free_bytes
                            : 0;
    if (rates) {
      s.swapin_pages_per_s = rates->swapin_pages_per_s;
      s.cpu_percent = rates->cpu_percent;
    }
    s.disk_used_bytes = host.disk_used_bytes;
    s.disk_total_bytes = host.disk_total_bytes;
    s.load1 = host.load1;
    s.slices_running = running;
    s.slices_total = static_cast<int>(samples.size());
    s.pg_connections = store.PgConnections();
    RuntimeMemory(store, s);
    store.Insert(now, s);
    // Idle: since the tenant's last request through any of its sessions.
    std::map<long long, long long> idle;
    for (const auto& row : tx.exec_params(
             "SELECT s.id, extract(epoch FROM $1::timestamptz - max(se.last_seen_at))::bigint "
             "FROM gateway.slices s JOIN gateway.sessions se ON se.user_id = s.user_id "
             "GROUP BY s.id",
             crm::FormatIso(now))) {
      if (!row[1].is_null()) {
        idle[row[0].as<long long>()] = std::max(0LL, row[1].as<long long>());
      }
    }
    for (auto& sample : samples) {
      if (auto it = idle.find(sample.slice_id); it != idle.end()) {
        sample.idle_seconds = it->second;
      }
      store.Insert(now, sample);
    }
    store.RollupAndPrune(now, options_.retention);
  });
  Record(kServerKinds, server);
  Record({"slice_memory"}, memory);

  // Idle slices' memory out, now that each sample knows its idle time and open streams.
  std::vector<ReclaimCandidate> candidates;
  for (const auto& info : infos) {
    if (!info.runs()) {
      continue;
    }
    ReclaimCandidate c{info.id, Alive(info.pid), std::nullopt, std::nullopt};
    for (const auto& sample : samples) {
      if (sample.slice_id == info.id) {
        c.idle_seconds = sample.idle_seconds;
        c.streams = sample.streams;
      }
    }
    candidates.push_back(c);
  }
  reclaimer_.Pass(candidates);

  std::vector<SliceGauges> gauges;
  for (const auto& info : infos) {
    if (!info.holds_data()) {
      continue;
    }
    SliceGauges g;
    g.slice_id = info.id;
    g.memory_limit_bytes = info.memory_limit_bytes;
    g.storage_bytes = info.storage_bytes;
    g.storage_quota_bytes = info.storage_quota_bytes;
    g.restarts = info.restarts;
    for (const auto& o : observed) {
      if (o.id == info.id) {
        g.memory_bytes = o.memory_bytes;
      }
    }
    if (info.state == SliceState::kAssigned && whatsapp_check_.SeenConnected(info.id)) {
      auto it = wa_states_.find(info.id);
      g.whatsapp_connected = it != wa_states_.end() && it->second == "connected";
    }
    if (auto it = loads_.find(info.id); it != loads_.end()) {
      g.pending_tasks = it->second.pending_tasks;
    }
    gauges.push_back(g);
  }
  std::lock_guard gauges_lock(gauges_mutex_);
  gauges_ = std::move(gauges);
}

}  // namespace crm::monitor
