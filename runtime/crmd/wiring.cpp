#include "wiring.hpp"

#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <string>

namespace crm::crmd {
namespace {

std::string Ms(std::chrono::milliseconds d) {
  return std::to_string(d.count()) + "ms";
}

// The wa-web sidecar's main file: the configured one, else wa-web/sidecar.mjs beside this binary
// (a build tree), else ../share/crmd/wa-web/sidecar.mjs (an installed tree), as for the web app.
std::filesystem::path WaWebSidecar(const config::RuntimeConfig& config) {
  if (!config.wa_web_sidecar.empty()) {
    return config.wa_web_sidecar;
  }
  std::error_code ec;
  std::filesystem::path exe_dir = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path();
  if (std::filesystem::exists(exe_dir / "wa-web" / "sidecar.mjs", ec)) {
    return exe_dir / "wa-web" / "sidecar.mjs";
  }
  return (exe_dir / ".." / "share" / "crmd" / "wa-web" / "sidecar.mjs").lexically_normal();
}

// What every slice process inherits from the gateway's configuration, under the names
// config::LoadConfig reads (the per-slice ones, such as its database role and its socket, are the
// orchestrator's).
std::map<std::string, std::string> SliceEnvironment(const config::RuntimeConfig& config) {
  return {{"CRM_LOG_LEVEL", config.log_level},
          {"CRM_STATEMENT_TIMEOUT", Ms(config.statement_timeout)},
          {"CRM_DB_READ_REPLICA_URL", config.db_read_replica_url},
          {"CRM_DB_REPLICA_MAX_LAG", Ms(config.db_replica_max_lag)},
          {"CRM_SLICE_DB_MAX_OPEN_CONNS", std::to_string(config.slice_db_max_open_conns)},
          {"CRM_BODY_LIMIT", std::to_string(config.body_limit)},
          {"CRM_WRITE_TIMEOUT", Ms(config.write_timeout)},
          {"CRM_QUEUE_MAX_DEPTH", std::to_string(config.queue_max_depth)},
          {"CRM_PHONE_RPS", std::to_string(config.phone_rps)},
          {"CRM_PAIR_INTERVAL", Ms(config.pair_interval)},
          {"CRM_QUEUE_MAX_ATTEMPTS", std::to_string(config.queue_max_attempts)},
          {"CRM_QUEUE_LEASE_TTL", Ms(config.queue_lease_ttl)},
          {"CRM_SLICE_IDLE_DISCONNECT", Ms(config.slice_idle_disconnect)},
          {"CRM_QUEUE_IDLE_POLL", Ms(config.queue_idle_poll)},
          {"CRM_WORKER_SHARD_RANGE", config.worker_shard_range},
          {"CRM_BROADCAST_BODY_LIMIT", std::to_string(config.broadcast_body_limit)},
          {"CRM_EVENT_STREAMS_PER_TENANT", std::to_string(config.event_streams_per_tenant)},
          {"CRM_UPLOAD_MAX_ROWS", std::to_string(config.upload_max_rows)},
          {"CRM_SIMULATOR_AUTOPAIR", config.simulator_autopair ? "1" : "0"},
          {"CRM_NODE", config.node},
          {"CRM_WA_WEB_SIDECAR", WaWebSidecar(config).string()}};
}

db::PoolOptions SliceDatabase(const config::RuntimeConfig& config, long long slice_id,
                              std::size_t max_size, const std::string& suffix) {
  std::string schema = "slice_" + std::to_string(slice_id);
  db::PoolOptions options;
  options.url = config.database_url;
  options.password = config.database_password;
  options.max_size = max_size;
  options.statement_timeout = config.statement_timeout;
  options.application_name = "crmd-" + schema + suffix;
  options.search_path = schema;
  // Pooled, the slice logs in as the pool's shared user and becomes its own role inside every
  // transaction (docs/operations.md, "PostgreSQL behind PgBouncer"), or, behind its host's
  // pooler, as its own role, whose settings are its search_path and statement_timeout
  // (docs/operations.md, "Slices behind the host's pooler"); unpooled its login is its role.
  options.direct_url = config.database_direct_url;
  if (!options.direct_url.empty()) {
    if (db::ConnInfoValue(config.database_url, "user") == schema) {
      options.role_settings = true;
    } else {
      options.role = schema;
    }
  }
  options.replica_url = config.db_read_replica_url;
  options.replica_max_lag = config.db_replica_max_lag;
  return options;
}

// The slice's pool in the queue database (QUEUE_DATABASE_URL, as the orchestrator gave it: the
// slice's own login, or the shared one when the main database is pooled), nullopt without one.
// Reached directly: with a shared login the role is set in every transaction all the same.
std::optional<db::PoolOptions> SliceQueueDatabase(const config::RuntimeConfig& config,
                                                  long long slice_id, std::size_t max_size) {
  if (config.queue_database_url.empty()) {
    return std::nullopt;
  }
  db::PoolOptions options = SliceDatabase(config, slice_id, max_size, "-queue");
  options.url = config.queue_database_url;
  options.replica_url.clear();
  if (options.role_settings) {
    options.direct_url.clear();  // its own login, not behind the host's pooler: unpooled
    options.role_settings = false;
  } else if (!options.direct_url.empty()) {
    options.direct_url = config.queue_database_url;
  }
  return options;
}

slice::MessagingOptions MessagingOptionsFrom(const config::RuntimeConfig& config,
                                             long long slice_id) {
  slice::MessagingOptions options;
  options.slice_id = slice_id;
  options.database = SliceDatabase(config, slice_id, 2, "-channel");
  options.channel = config.channel;
  options.simulator_autopair = config.simulator_autopair;
  options.fresh = config.slice_fresh;
  options.cloud_api.base_url = config.whatsapp_api_url;
  options.cloud_api.phone_number_id = config.whatsapp_phone_number_id;
  options.cloud_api.access_token = config.whatsapp_token;
  options.wa_web.data_dir = config.data_dir;
  options.wa_web.engine = config.wa_web_engine;
  options.wa_web.node = config.node;
  options.wa_web.sidecar = WaWebSidecar(config);
  // A warm slice, or a tenant who never opened the connect page, runs no sidecar.
  options.wa_web.on_demand = true;
  options.dispatcher.phone_rps = config.phone_rps;
  options.dispatcher.pair_interval = config.pair_interval;
  options.dispatcher.max_attempts = config.queue_max_attempts;
  options.dispatcher.lease_ttl = config.queue_lease_ttl;
  options.dispatcher.idle_disconnect = config.slice_idle_disconnect;
  options.dispatcher.idle_poll = config.queue_idle_poll;
  options.worker_shard_range = config.worker_shard_range;
  return options;
}

// Where the web app's files are: the configured root, else web/ beside this binary (a build
// tree: the build writes them there), else ../share/crmd/web (an installed tree: /usr/bin/crmd and
// /usr/share/crmd/web).
std::filesystem::path WebRoot(const config::RuntimeConfig& config) {
  if (!config.web_root.empty()) {
    return config.web_root;
  }
  std::error_code ec;
  std::filesystem::path exe_dir = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path();
  if (std::filesystem::is_directory(exe_dir / "web", ec)) {
    return exe_dir / "web";
  }
  return (exe_dir / ".." / "share" / "crmd" / "web").lexically_normal();
}

}  // namespace

db::PoolOptions GatewayDatabase(const config::RuntimeConfig& config, std::size_t max_size) {
  db::PoolOptions options;
  options.url = config.database_url;
  options.password = config.database_password;
  options.max_size = max_size;
  options.statement_timeout = config.statement_timeout;
  options.application_name = "crmd-gateway";
  options.direct_url = config.database_direct_url;
  return options;
}

http::ServerLimits ServerLimitsFrom(const config::RuntimeConfig& config) {
  http::ServerLimits limits;
  limits.body_limit = config.body_limit;
  // Recipient lists and CSV uploads (broadcasts, contact imports); Meta's webhook payloads (and
  // their relay to a slice).
  limits.body_limit_for = {{"/api/broadcasts", config.broadcast_body_limit},
                           {"/api/contacts/import", config.broadcast_body_limit},
                           {"/webhooks/whatsapp", http::kWebhookBodyLimit},
                           {"/billing/webhook", http::kWebhookBodyLimit},
                           {"/internal/channel/", http::kWebhookBodyLimit}};
  limits.header_timeout = config.header_timeout;
  limits.idle_timeout = config.idle_timeout;
  limits.write_timeout = config.write_timeout;
  limits.max_connections_per_address = static_cast<std::size_t>(config.max_connections_per_ip);
  return limits;
}

orchestrator::OrchestratorOptions OrchestratorOptionsFrom(const config::RuntimeConfig& config) {
  orchestrator::OrchestratorOptions options;
  options.data_dir = config.data_dir;
  options.slice_binary = config.slice_binary;
  options.warm_slices = config.warm_slices;
  options.max_slices = config.max_slices;
  options.slice_memory_limit = config.slice_memory_limit;
  options.slice_cpu_limit = config.slice_cpu_limit;
  options.slice_storage_quota = config.slice_storage_quota;
  options.statement_timeout = config.statement_timeout;
  options.database_url = config.database_url;
  options.database_direct_url = config.database_direct_url;
  options.database_password = config.database_password;
  if (config.slice_pool_size > 0) {
    orchestrator::SlicePoolerOptions pooler;
    pooler.dir = config.data_dir / "pgbouncer";
    pooler.binary = config.pgbouncer;
    pooler.database_url = config.database_url;
    pooler.size = config.slice_pool_size;
    pooler.per_slice = config.slice_pool_per_slice;
    pooler.idle_timeout = config.slice_pool_idle_timeout;
    options.pooler = pooler;
  }
  options.queue_database_url = config.queue_database_url;
  options.default_channel = config.channel;
  options.default_wa_web_engine = config.wa_web_engine;
  options.cloud_api_url = config.whatsapp_api_url;
  options.cloud_api_token = config.whatsapp_token;
  options.slice_environment = SliceEnvironment(config);
  options.health_interval = config.slice_health_interval;
  options.storage_interval = config.slice_storage_interval;
  options.slice_uid_first = config.slice_uid_first;
  options.slice_uid_last = config.slice_uid_last;
  return options;
}

mail::MailerOptions MailerOptionsFrom(const config::RuntimeConfig& config) {
  mail::MailerOptions options;
  options.from = config.mail_from;
  options.smtp.url = config.smtp_url;
  options.smtp.user = config.smtp_user;
  options.smtp.password = config.smtp_password;
  options.eml_dir = config.data_dir / "mail";
  options.max_attempts = config.mail_max_attempts;
  return options;
}

billing::BillingOptions BillingOptionsFrom(const config::RuntimeConfig& config) {
  billing::BillingOptions options;
  options.stripe.secret_key = config.stripe_secret_key;
  options.stripe.api_url = config.stripe_api_url;
  options.webhook_secret = config.stripe_webhook_secret;
  options.webhook_secret_previous = config.stripe_webhook_secret_previous;
  options.price_id = config.stripe_price_id;
  options.promotion_code = config.stripe_promotion_code;
  options.policy.trial = std::chrono::days(config.billing_trial_days);
  options.policy.grace = std::chrono::days(config.billing_grace_days);
  options.policy.retention = std::chrono::days(config.billing_retention_days);
  gateway::PricePlan plan;
  plan.monthly_cents = config.price_monthly_cents;
  plan.launch_discount_percent = config.launch_discount_percent;
  // With the launch discount's promotion code every subscription pays the launch price.
  options.monthly_cents =
      config.stripe_promotion_code.empty() ? plan.monthly_cents : plan.LaunchMonthlyCents();
  options.currency = config.currency;
  if (!config.public_url.empty()) {
    options.app_url = config.public_url;
  } else if (config.listen.rfind("unix:", 0) != 0) {
    options.app_url = "http://" + config.listen;
  }
  options.clock_file = config.billing_clock_file;
  options.test_apply_delay = config.billing_test_apply_delay;
  return options;
}

monitor::MonitorOptions MonitorOptionsFrom(const config::RuntimeConfig& config) {
  using std::chrono::duration_cast;
  using std::chrono::seconds;
  monitor::MonitorOptions options;
  options.enabled = config.monitor_enabled;
  options.process_interval = duration_cast<seconds>(config.monitor_process_interval);
  options.health_interval = duration_cast<seconds>(config.monitor_health_interval);
  options.whatsapp_interval = duration_cast<seconds>(config.monitor_whatsapp_interval);
  options.storage_interval = duration_cast<seconds>(config.monitor_storage_interval);
  options.telemetry_interval = duration_cast<seconds>(config.monitor_telemetry_interval);
  options.backup_interval = duration_cast<seconds>(config.monitor_backup_interval);
  options.backup_stanza = config.backup_stanza;
  options.pgbackrest_config = config.pgbackrest_config;
  options.thresholds.backup_max_age = duration_cast<seconds>(config.backup_max_age);
  options.notify_interval = duration_cast<seconds>(config.alert_notify_interval);
  options.thresholds.whatsapp_grace = duration_cast<seconds>(config.monitor_whatsapp_grace);
  options.thresholds.sustain = duration_cast<seconds>(config.monitor_sustain);
  options.thresholds.slice_memory_percent = config.monitor_slice_memory_percent;
  options.thresholds.slice_storage_percent = config.monitor_slice_storage_percent;
  options.thresholds.disk_percent = config.monitor_disk_percent;
  options.thresholds.ram_percent = config.monitor_ram_percent;
  options.thresholds.cpu_percent = config.monitor_cpu_percent;
  options.thresholds.swapin_pages_per_s = config.monitor_swapin_pages_per_s;
  options.webhook_url = config.alert_webhook_url;
  options.webhook_secret = config.alert_webhook_secret;
  options.disk_path = config.data_dir;
  options.reclaim_idle = duration_cast<seconds>(config.slice_reclaim_idle);
  options.clock_file = config.monitor_clock_file;
  if (!config.public_url.empty()) {
    options.app_url = config.public_url;
  } else if (config.listen.rfind("unix:", 0) != 0) {
    options.app_url = "http://" + config.listen;
  }
  return options;
}

gateway::GatewayOptions GatewayOptionsFrom(const config::RuntimeConfig& config,
                                           orchestrator::Placement placement) {
  gateway::GatewayOptions options;
  options.internal_token = config.internal_token;
  // Behind a load balancer with other gateways: the login limits count in PostgreSQL.
  options.shared_limits = placement == orchestrator::Placement::kGateway;
  options.log_level = config.log_level;
  options.listen = http::ParseEndpoint(config.listen);
  options.limits = ServerLimitsFrom(config);
  options.io_threads = config.io_threads;
  options.drain_timeout = config.drain_timeout;
  options.database = GatewayDatabase(config, static_cast<std::size_t>(config.db_max_open_conns));
  options.worker_threads = static_cast<std::size_t>(config.worker_concurrency);
  options.public_url = config.public_url;
  options.trusted_proxies = config.trusted_proxies;
  options.web_root = WebRoot(config);
  options.plan.name = config.plan_name;
  options.plan.currency = config.currency;
  options.plan.monthly_cents = config.price_monthly_cents;
  options.plan.launch_discount_percent = config.launch_discount_percent;
  options.session_ttl = std::chrono::duration_cast<std::chrono::seconds>(config.session_ttl);
  options.login_attempts_per_minute = config.login_attempts_per_minute;
  options.rate_limit_max_addresses = config.rate_limit_max_addresses;
  options.password_hash_threads = static_cast<std::size_t>(config.password_hash_threads);
  options.password_hash_queue = static_cast<std::size_t>(config.password_hash_queue);
  options.whatsapp_verify_token = config.whatsapp_verify_token;
  options.whatsapp_app_secret = config.whatsapp_app_secret;
  options.orchestrator = OrchestratorOptionsFrom(config);
  options.orchestrator.placement = placement;
  options.mail = MailerOptionsFrom(config);
  options.billing = BillingOptionsFrom(config);
  options.monitor = MonitorOptionsFrom(config);
  options.region.name = config.region;
  options.region.urls = config.regions;
  options.region.secret = config.region_secret;
  options.region.peer_timeout = config.region_peer_timeout;
  return options;
}

slice::SliceOptions SliceOptionsFrom(const config::RuntimeConfig& config, long long slice_id) {
  slice::SliceOptions options;
  options.slice_id = slice_id;
  options.log_level = config.log_level;
  options.listen = http::ParseEndpoint(config.listen);
  options.limits = ServerLimitsFrom(config);
  options.drain_timeout = config.drain_timeout;
  options.database =
      SliceDatabase(config, slice_id, static_cast<std::size_t>(config.slice_db_max_open_conns), "");
  options.queue_database = SliceQueueDatabase(
      config, slice_id, static_cast<std::size_t>(config.slice_db_max_open_conns) + 1);
  options.db_idle_close = config.slice_idle_disconnect;
  options.queue_max_depth = config.queue_max_depth;
  options.max_event_streams = static_cast<std::size_t>(config.event_streams_per_tenant);
  options.upload_max_rows = static_cast<std::size_t>(config.upload_max_rows);
  options.messaging = MessagingOptionsFrom(config, slice_id);
  options.fresh = config.slice_fresh;
  return options;
}

namespace {

std::string HostName(const config::RuntimeConfig& config) {
  if (!config.host_name.empty()) {
    return config.host_name;
  }
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') {
    throw InputError("host_name: the system has no host name; set CRM_HOST_NAME", "host_name");
  }
  return name;
}

// A StatefulSet's pod crm-slice-host-3 → 3.
int OrdinalOf(const std::string& host_name) {
  auto dash = host_name.rfind('-');
  int ordinal = -1;
  if (dash != std::string::npos) {
    const char* first = host_name.data() + dash + 1;
    const char* last = host_name.data() + host_name.size();
    auto [end, ec] = std::from_chars(first, last, ordinal);
    if (ec != std::errc() || end != last || first == last) {
      ordinal = -1;
    }
  }
  if (ordinal < 0) {
    throw InputError(
        "host_name: worker_shard_count needs a StatefulSet pod name ending in -N "
        "(crm-slice-host-0), got \"" +
            host_name + "\" (CRM_HOST_NAME or POD_NAME)",
        "host_name");
  }
  return ordinal;
}

// Where gateways reach this slice host: configured, else the listen address, with the host name
// in place of a wildcard.
std::string AdvertiseAddress(const config::RuntimeConfig& config, const http::Endpoint& listen) {
  if (!config.advertise_address.empty()) {
    http::Endpoint checked = http::ParseEndpoint(config.advertise_address);
    if (!checked.is_unix && (checked.host == "0.0.0.0" || checked.host == "::")) {
      throw InputError("advertise_address: a wildcard cannot be reached; name this host",
                       "advertise_address");
    }
    return checked.ToString();
  }
  if (listen.is_unix) {
    return listen.ToString();
  }
  if (listen.port == 0) {
    return {};  // known once bound (RunSliceHost)
  }
  if (listen.host == "0.0.0.0" || listen.host == "::" || listen.host.empty()) {
    return HostName(config) + ":" + std::to_string(listen.port);
  }
  return listen.ToString();
}

}  // namespace

slicehost::SliceHostOptions SliceHostOptionsFrom(const config::RuntimeConfig& config) {
  slicehost::SliceHostOptions options;
  options.log_level = config.log_level;
  options.listen = http::ParseEndpoint(config.listen);
  options.limits = ServerLimitsFrom(config);
  options.io_threads = config.io_threads;
  options.drain_timeout = config.drain_timeout;
  options.database = GatewayDatabase(config, 4);
  options.database.application_name = "crmd-slice-host";
  options.orchestrator = OrchestratorOptionsFrom(config);
  // The host runs only the slices it serves: each dispatches its own queue, whatever range.
  options.orchestrator.slice_environment["CRM_WORKER_SHARD_RANGE"] = "0-100";
  options.leases.own =
      config.worker_shard_count > 0
          ? queue::ShardOfOrdinal(OrdinalOf(HostName(config)), config.worker_shard_count)
          : queue::ParseShardRange(config.worker_shard_range);
  options.leases.holder = AdvertiseAddress(config, options.listen);
  options.leases.ttl = config.shard_lease_ttl;
  options.leases.adopt = config.slice_host_adopt;
  options.internal_token = config.internal_token;
  return options;
}

}  // namespace crm::crmd
