// crmd's configuration: a typed struct read from an optional YAML file, every key overridable
// from the environment (CRM_<KEY>, and the plan's knob names such as DB_MAX_OPEN_CONNS).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "crm/address_range.hpp"

namespace crm::config {

struct RuntimeConfig {
  // Where and how to reach PostgreSQL. The password never comes from the URL in rendered configs:
  // CRM_DATABASE_PASSWORD or CRM_DATABASE_PASSWORD_FILE (mode 0600); a slice's from the
  // descriptor CRM_DATABASE_PASSWORD_FD its orchestrator passes.
  std::string database_url = "postgresql:///crm";
  /// PostgreSQL itself when database_url is a transaction-pooling PgBouncer (docs/operations.md,
  /// "PostgreSQL behind PgBouncer"): whole sessions connect here. Empty: unpooled.
  std::string database_direct_url;
  /// Server connections this host's slices share through a PgBouncer crmd starts for them
  /// (transaction pooling, each slice still logging in as its own role: docs/operations.md,
  /// "Slices behind the host's pooler"). 0: each slice connects to PostgreSQL itself.
  int slice_pool_size = 0;
  /// Of those, how many one slice may hold at once (PgBouncer's default_pool_size).
  int slice_pool_per_slice = 3;
  /// The pooler closes a server connection unused this long (an idle slice then holds none).
  std::chrono::seconds slice_pool_idle_timeout{10};
  /// The PgBouncer binary.
  std::string pgbouncer = "/usr/sbin/pgbouncer";
  /// A streaming replica slices read from (docs/operations.md, "Read replica"); empty: none.
  std::string db_read_replica_url;
  /// The queue database (QUEUE_DATABASE_URL): each slice's queue in a schema of its name there;
  /// empty: in the slice's own schema.
  std::string queue_database_url;
  std::chrono::milliseconds db_replica_max_lag{5'000};
  std::string database_password;
  std::string listen = "127.0.0.1:8080";  ///< host:port or unix:/path
  std::filesystem::path data_dir = "/var/lib/crmd";
  /// The origin browsers use ("https://crm.example.com"): mailed links, the Origin check and the
  /// cookies' Secure flag follow it. Empty: derived from `listen` (http://127.0.0.1:PORT), never
  /// from a request's Host.
  std::string public_url;
  /// Peers whose X-Forwarded-For names the client (our nginx or load balancer). Empty: nobody's.
  std::vector<AddressRange> trusted_proxies;
  /// The web app's built files; empty: web/ beside the crmd binary, else ../share/crmd/web.
  std::string web_root;
  // What a workspace costs (docs/operations.md, "Prices"): the pricing page shows it and billing
  // charges it.
  std::string plan_name = "Workspace";
  int price_monthly_cents = 900;
  std::string currency = "USD";
  int launch_discount_percent = 50;
  std::string log_level = "info";
  int io_threads = 2;
  int db_max_open_conns = 10;       ///< gateway pool (DB_MAX_OPEN_CONNS)
  int slice_db_max_open_conns = 2;  ///< per slice process (SLICE_DB_MAX_OPEN_CONNS)
  int worker_concurrency = 4;       ///< threads running blocking work (WORKER_CONCURRENCY)
  std::chrono::milliseconds statement_timeout{30'000};
  std::uint64_t body_limit = 1 << 20;
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds write_timeout{30'000};  ///< one write of an answer to a client
  int max_connections_per_ip = 256;   ///< per TCP peer; behind nginx, nginx's limit_conn applies
  int event_streams_per_tenant = 20;  ///< open GET /api/events per slice; the next gets 429
  std::chrono::milliseconds drain_timeout{10'000};
  std::uint64_t slice_memory_limit = 64ull << 20;
  double slice_cpu_limit = 0;  ///< cores per slice (cgroup cpu quota); 0 = none
  std::uint64_t slice_storage_quota = 2'000'000'000ull;
  int warm_slices = 1;
  int max_slices = 0;  ///< live slices this server holds at most; 0 = unlimited
  int login_attempts_per_minute = 5;
  std::size_t rate_limit_max_addresses = 100'000;  ///< per limiter; the quietest is evicted
  int password_hash_threads = 2;                   ///< argon2id's own pool
  int password_hash_queue = 32;                    ///< waiting hashes past which 503
  std::chrono::hours session_ttl{24 * 30};
  int queue_max_depth = 50'000;                    ///< read by the outbound queue (QUEUE_MAX_DEPTH)
  int phone_rps = 250;                             ///< per-phone send rate (PHONE_RPS)
  std::chrono::milliseconds pair_interval{6'000};  ///< per recipient, after a burst of 10
  int queue_max_attempts = 10;                     ///< then the task is dead-lettered
  std::chrono::milliseconds queue_lease_ttl{10'000};
  /// A slice's database connections (pools and dispatcher) unused this long are closed.
  std::chrono::milliseconds slice_idle_disconnect{60'000};
  /// A disconnected dispatcher looks for work queued by another process this often.
  std::chrono::milliseconds queue_idle_poll{60'000};
  std::string worker_shard_range = "0-100";  ///< tenant hash range this host dispatches
  // Scale-out (docs/operations.md, "Scale-out: gateways and slice hosts").
  /// Slice hosts of a StatefulSet: each takes its ordinal's share of the hash space; 0 = use
  /// worker_shard_range.
  int worker_shard_count = 0;
  std::string host_name;          ///< this host's name (POD_NAME); empty = gethostname()
  std::string advertise_address;  ///< where gateways reach this slice host; empty = derived
  std::string internal_token;     ///< gateways present it to slice hosts
  std::chrono::milliseconds shard_lease_ttl{15'000};
  bool slice_host_adopt = true;  ///< take over the ranges of slice hosts whose leases expired
  std::uint64_t broadcast_body_limit = 32ull << 20;  ///< POST /api/broadcasts (CSV uploads)
  int upload_max_rows = 50'000;  ///< recipients per broadcast, rows per contact import (413)
  // WhatsApp (docs/operations.md, "WhatsApp").
  std::string channel = "simulator";  ///< new slices' channel: simulator, cloud-api or wa-web
  bool simulator_autopair = false;    ///< connect a new slice's simulator without a QR scan
  // The wa-web channel's sidecar (docs/wa-web.md).
  std::string node =
      "node";  ///< the Node binary that runs it (a name looked up in PATH, or a path)
  /// Its main file; empty: wa-web/sidecar.mjs beside crmd, else ../share/crmd/wa-web/sidecar.mjs.
  std::string wa_web_sidecar;
  std::string wa_web_engine = "noweb";  ///< a slice's engine when it has none of its own
  std::string whatsapp_app_secret;      ///< verifies X-Hub-Signature-256 on /webhooks/whatsapp
  std::string whatsapp_verify_token;    ///< the webhook subscription handshake
  std::string whatsapp_token;           ///< Cloud API bearer token
  std::string whatsapp_api_url = "https://graph.facebook.com/v21.0";
  std::string whatsapp_phone_number_id;  ///< a slice's number (set by the orchestrator)
  /// A slice started by its own provisioning, its schema just migrated and empty (set by the
  /// orchestrator): its start opens no database connection.
  bool slice_fresh = false;
  // Mail (docs/operations.md, "Mail").
  std::string smtp_url;  ///< smtp://host:port or smtps://host:port; empty: .eml files
  std::string smtp_user;
  std::string smtp_password;
  std::string mail_from = "CRM <no-reply@localhost>";
  int mail_max_attempts = 8;  ///< then the mail is dead
  // Billing (docs/operations.md, "Billing"): off while stripe_secret_key is empty.
  std::string stripe_secret_key;
  std::string stripe_webhook_secret;
  std::string stripe_webhook_secret_previous;  ///< accepted too while the secret is rotated
  std::string stripe_api_url = "https://api.stripe.com";
  std::string stripe_price_id;        ///< the recurring Price of price_monthly_cents
  std::string stripe_promotion_code;  ///< the launch discount's promotion code id; empty: none
  int billing_trial_days = 0;         ///< 0: pay first
  int billing_grace_days = 7;         ///< after a failed payment, before suspension
  int billing_retention_days = 7;     ///< data kept after cancellation
  std::string billing_clock_file;     ///< tests only: "now" read from this file
  std::chrono::milliseconds billing_test_apply_delay{0};  ///< tests only: see BillingOptions
  // Monitoring (docs/operations.md, "Monitoring"): checks, alerts, telemetry.
  bool monitor_enabled = true;
  std::chrono::milliseconds monitor_process_interval{30'000};
  std::chrono::milliseconds monitor_health_interval{60'000};
  std::chrono::milliseconds monitor_whatsapp_interval{60'000};
  std::chrono::milliseconds monitor_whatsapp_grace{120'000};  ///< disconnected this long: alert
  std::chrono::milliseconds monitor_storage_interval{300'000};
  std::chrono::milliseconds monitor_telemetry_interval{60'000};
  std::chrono::milliseconds monitor_backup_interval{300'000};
  std::string backup_stanza;      ///< pgBackRest stanza read by backup_stale; empty: none
  std::string pgbackrest_config;  ///< its configuration file; empty: pgBackRest's default
  /// The newest backup may be this old: a daily diff plus the time a backup takes.
  std::chrono::milliseconds backup_max_age{26 * 3'600'000};
  std::chrono::milliseconds monitor_sustain{300'000};  ///< CPU and swap-ins above, this long
  int monitor_slice_memory_percent = 90;
  int monitor_slice_storage_percent = 90;
  int monitor_disk_percent = 85;
  int monitor_ram_percent = 90;
  int monitor_cpu_percent = 90;
  int monitor_swapin_pages_per_s = 1000;
  std::chrono::milliseconds slice_reclaim_idle{600'000};       ///< idle this long: reclaim; 0 = off
  std::chrono::milliseconds alert_notify_interval{1'800'000};  ///< per subject and kind
  std::string alert_webhook_url;                               ///< empty: no webhook
  std::string alert_webhook_secret;                            ///< signs the webhook's body
  std::string monitor_clock_file;  ///< tests only: "now" read from this file
  /// The crmd binary the orchestrator starts slices with; empty = this process's own binary.
  std::string slice_binary;
  /// How often the orchestrator probes every running slice's /health (docs/operations.md).
  std::chrono::milliseconds slice_health_interval{5'000};
  /// How often the orchestrator records the storage of the slices it runs (docs/operations.md).
  std::chrono::milliseconds slice_storage_interval{60'000};
  /// Slice N runs as uid/gid first + N ("200000-265535"); 0-0: slices share crmd's uid.
  std::uint32_t slice_uid_first = 0;
  std::uint32_t slice_uid_last = 0;
  // Regions (docs/operations.md, "Regions"): each tenant's data stays in its home region.
  std::string region;  ///< this deployment's region ("eu"); empty: a single region
  /// Every region's public origin, this one included (CRM_REGIONS "eu=https://eu.…,us=…").
  std::map<std::string, std::string> regions;
  std::string region_secret;  ///< signs the gateways' calls to each other's regions
  std::chrono::milliseconds region_peer_timeout{2'000};  ///< a peer slower than this is skipped
};

/// The environment as a lookup; tests pass a map, crmd passes getenv.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup ProcessEnvironment();

/// Reads `file` (when given) strictly, then applies the environment. Throws InputError naming
/// file:line:col or the variable ("DB_MAX_OPEN_CONNS: expected a positive whole number, got
/// \"x\"").
RuntimeConfig LoadConfig(const std::optional<std::filesystem::path>& file, const EnvLookup& env);

/// Every setting's raw value as given (YAML key → value; the environment over the file), for
/// comparing two readings. Throws InputError as LoadConfig does.
std::map<std::string, std::string> RawSettings(const std::optional<std::filesystem::path>& file,
                                               const EnvLookup& env);

/// "eu=https://eu.crm.example,us=https://us.crm.example" → {eu: …, us: …}: region names of
/// lower-case letters, digits and '-' (1 to 32), each an http(s) origin without a path. Throws
/// InputError naming the entry at fault.
std::map<std::string, std::string> ParseRegionUrls(const std::string& text);

/// Every key: its YAML name, its environment names, and what it means (for docs and --help).
struct ConfigKey {
  std::string yaml;
  std::vector<std::string> env;
  std::string help;
};
const std::vector<ConfigKey>& ConfigKeys();

}  // namespace crm::config
