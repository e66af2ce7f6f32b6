// The data the templates see, derived from a plan: its figures, the database, the hosts of the
// target, and for Kubernetes the cluster's sizes; plus the manifest.json document.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <regex>

#include "crm/error.hpp"
#include "crm/planner/report.hpp"
#include "crm/render/render.hpp"
#include "crm/units.hpp"

namespace crm::render {
namespace {

// What an operator must replace (the bucket, its endpoint and region) before backups run.
constexpr const char* kBackupPlaceholder = "REPLACE-ME";
// Full backups kept, as the local target's default (docs/operations.md); fulls are weekly.
constexpr int kBackupRetentionFull = 2;

using Json = nlohmann::ordered_json;
using planner::KnobValue;
using planner::LayoutRow;
using planner::Plan;

constexpr double kMiB = 1024.0 * 1024;
constexpr double kGiB = 1024.0 * 1024 * 1024;
constexpr int kGatewayPort = 8080;
constexpr int kSliceHostPort = 8090;
constexpr int kPostgresPort = 5432;
constexpr int kQueuePort = 5432;
constexpr int kPgBouncerPort = 6432;
// Where `cmake --install --prefix /usr` puts the wa-web sidecar (runtime/wa-web), beside the web
// app's /usr/share/crmd/web.
constexpr const char* kWaWebSidecar = "/usr/share/crmd/wa-web/sidecar.mjs";

std::string KnobString(const KnobValue& v) {
  if (const auto* n = std::get_if<long long>(&v)) {
    return std::to_string(*n);
  }
  return std::get<std::string>(v);
}

long long Mib(double bytes) {
  return static_cast<long long>(std::floor(bytes / kMiB));
}

const LayoutRow* RowCarrying(const Plan& plan, unsigned carry, std::string_view role_hint = {}) {
  for (const LayoutRow& row : plan.layout) {
    if ((row.spec->carries & carry) &&
        (role_hint.empty() || row.spec->role.find(role_hint) != std::string::npos)) {
      return &row;
    }
  }
  return nullptr;
}

const LayoutRow* RowNamed(const Plan& plan, std::string_view role) {
  for (const LayoutRow& row : plan.layout) {
    if (row.spec->role == role) {
      return &row;
    }
  }
  return nullptr;
}

long long KnobNumber(const Plan& plan, std::string_view name, long long fallback) {
  for (const auto& [k, v] : plan.knobs) {
    if (k == name) {
      if (const auto* n = std::get_if<long long>(&v)) {
        return *n;
      }
    }
  }
  return fallback;
}

std::string KnobText(const Plan& plan, std::string_view name) {
  for (const auto& [k, v] : plan.knobs) {
    if (k == name) {
      return KnobString(v);
    }
  }
  return {};
}

// Host names of a layout row: the role itself for one host, role-1 … role-n for several.
std::vector<std::string> HostNames(const LayoutRow& row) {
  std::vector<std::string> names;
  for (int i = 1; i <= row.count; ++i) {
    names.push_back(row.count == 1 ? row.spec->role : fmt::format("{}-{}", row.spec->role, i));
  }
  return names;
}

// What the crmd unit on a host may use: its share of the demand with headroom plus the process
// itself, never more than the host leaves after PostgreSQL's shared buffers and the OS.
struct CrmdLimits {
  long long memory_max_mib = 0;
  long long cpu_quota_percent = 0;
};

CrmdLimits LimitsFor(const Plan& plan, const LayoutRow& row, double pg_shared_buffers) {
  // As for a slice (rules.yaml slice_memory_headroom): reconnect storms briefly need half again.
  constexpr double headroom = 1.5;
  // A single host's services are the shared-services rule, which the plan has summed already.
  const double services =
      row.spec->has_services_ram ? row.spec->services_ram : plan.demand.services_ram;
  const double demand = row.ram_demand - services;
  const double wanted = std::max(1 * kGiB, std::max(0.0, demand) * headroom + 512 * kMiB);
  const double room = row.server->ram_bytes - pg_shared_buffers - 1 * kGiB;
  CrmdLimits limits;
  limits.memory_max_mib = Mib(std::max(512 * kMiB, std::min(wanted, room)));
  limits.cpu_quota_percent =
      std::max(50LL, static_cast<long long>(std::llround((row.server->vcpu - 0.5) * 100)));
  return limits;
}

// The subnet docker-compose gives the project's network (pinned in docker-compose.yml): only
// nginx, crmd and PostgreSQL are on it, and crmd's port is published nowhere else.
constexpr const char* kComposeSubnet = "172.30.71.0/24";
// The hosts of a multi-server layout talk over their private network, whose addresses the plan
// does not know: every private range (RFC 1918, IPv6 unique local), plus loopback for the nginx
// an app host runs itself when there is no load balancer. An assumption: the gateway port is
// not reachable from outside that network (the hosts' firewall).
constexpr const char* kPrivateNetworks =
    "127.0.0.1,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fd00::/8";

// What the gateway must know of what is in front of it: the origin browsers use (mailed links,
// the Origin check, Secure cookies) and the proxies whose X-Forwarded-For it believes. Empty
// for slice hosts, which serve only the gateway.
struct FrontDoor {
  std::string public_url;
  std::string trusted_proxies;
};

Json EnvList(const Plan& plan, const std::string& database_url, const std::string& listen,
             const FrontDoor& front, const std::string& extra_name = {},
             const std::string& extra_value = {}) {
  Json env = Json::array();
  env.push_back({{"name", "CRM_DATABASE_URL"}, {"value", database_url}});
  env.push_back(
      {{"name", "CRM_DATABASE_PASSWORD_FILE"}, {"value", "/etc/crmd/secrets/db_password"}});
  env.push_back({{"name", "CRM_LISTEN"}, {"value", listen}});
  if (!front.public_url.empty()) {
    env.push_back({{"name", "CRM_PUBLIC_URL"}, {"value", front.public_url}});
    env.push_back({{"name", "CRM_TRUSTED_PROXIES"}, {"value", front.trusted_proxies}});
  }
  env.push_back({{"name", "CRM_DATA_DIR"}, {"value", "/var/lib/crmd"}});
  // Where the crmd package puts the web app (nginx serves the same directory).
  env.push_back({{"name", "CRM_WEB_ROOT"}, {"value", "/usr/share/crmd/web"}});
  // Every rendering puts a proxy in front, so crmd's TCP peer is the proxy for every client:
  // the per-client connection cap is the proxy's (limit_conn), crmd's only bounds the total.
  env.push_back({{"name", "CRM_MAX_CONNECTIONS_PER_IP"}, {"value", "10000"}});
  for (const auto& [k, v] : plan.knobs) {
    if (k == "WORKER_SHARD_RANGE") {
      continue;  // per slice host, below
    }
    env.push_back({{"name", std::string(k)}, {"value", KnobString(v)}});
  }
  if (!extra_name.empty()) {
    env.push_back({{"name", extra_name}, {"value", extra_value}});
  }
  env.push_back(
      {{"name", "CRM_STRIPE_SECRET_KEY_FILE"}, {"value", "/etc/crmd/secrets/stripe_secret_key"}});
  env.push_back({{"name", "CRM_STRIPE_WEBHOOK_SECRET_FILE"},
                 {"value", "/etc/crmd/secrets/stripe_webhook_secret"}});
  // With a secret key, crmd refuses to start without the Price it sells: kept beside the key.
  env.push_back(
      {{"name", "CRM_STRIPE_PRICE_ID_FILE"}, {"value", "/etc/crmd/secrets/stripe_price_id"}});
  env.push_back({{"name", "CRM_WHATSAPP_APP_SECRET_FILE"},
                 {"value", "/etc/crmd/secrets/whatsapp_app_secret"}});
  env.push_back({{"name", "CRM_WHATSAPP_VERIFY_TOKEN_FILE"},
                 {"value", "/etc/crmd/secrets/whatsapp_verify_token"}});
  if (UsesWaWeb(plan)) {
    // The planned engine is every new slice's channel; `crmctl slices channel` changes one.
    env.push_back({{"name", "CRM_CHANNEL"}, {"value", "wa-web"}});
    env.push_back({{"name", "CRM_WA_WEB_ENGINE"}, {"value", plan.workload.engine}});
    env.push_back({{"name", "CRM_WA_WEB_SIDECAR"}, {"value", kWaWebSidecar}});
  }
  return env;
}

std::vector<std::string> ShardRanges(const Plan& plan) {
  std::vector<std::string> ranges;
  const std::string all = KnobText(plan, "WORKER_SHARD_RANGE");
  std::size_t start = 0;
  while (start < all.size()) {
    const std::size_t comma = all.find(',', start);
    ranges.push_back(
        all.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    start = comma == std::string::npos ? all.size() : comma + 1;
  }
  return ranges;
}

// The layout rows the templates single out.
struct Rows {
  const LayoutRow* pg = nullptr;  // the primary database
  const LayoutRow* replica = nullptr;
  const LayoutRow* queue_db = nullptr;
  const LayoutRow* lb = nullptr;
  const LayoutRow* monitoring = nullptr;
  const LayoutRow* pgbouncer = nullptr;  // a host of its own for PgBouncer (tier 4)
};

Rows FindRows(const Plan& plan) {
  return {RowCarrying(plan, planner::kCarryMessages),
          RowNamed(plan, "postgres-replica"),
          RowNamed(plan, "queue-db"),
          RowNamed(plan, "lb"),
          RowNamed(plan, "monitoring"),
          RowNamed(plan, "pgbouncer")};
}

// Where crmd reaches its database: PgBouncer when the tier pools connections.
struct Database {
  std::string host;
  bool pooled = false;
  int port = kPostgresPort;
  std::string url;
  /// Behind PgBouncer: PostgreSQL itself, for what needs a whole session (docs/operations.md,
  /// "PostgreSQL behind PgBouncer"); empty otherwise.
  std::string direct_url;
};

Database DatabaseFor(const Plan& plan, RenderTarget target, const Rows& rows) {
  Database db;
  db.pooled = plan.tier->pgbouncer;
  db.host = target == RenderTarget::kMulti && rows.pg != nullptr ? HostNames(*rows.pg).front()
            : target == RenderTarget::kCompose                   ? "postgres"
                                                                 : "127.0.0.1";
  // crmd reaches PgBouncer where it runs: its own host when the layout has one.
  if (target == RenderTarget::kMulti && db.pooled && rows.pgbouncer != nullptr) {
    db.host = HostNames(*rows.pgbouncer).front();
  }
  db.port = db.pooled ? kPgBouncerPort : kPostgresPort;
  db.url = fmt::format("postgresql://crm@{}:{}/crm", db.host, db.port);
  if (target == RenderTarget::kMulti && db.pooled) {
    db.direct_url = fmt::format("postgresql://crm@{}:{}/crm",
                                rows.pg != nullptr ? HostNames(*rows.pg).front() : db.host,
                                kPostgresPort);
  }
  return db;
}

// generated_by, target, domain, tier, workload, knob(s), postgres_conf.
void AddPlanFigures(Json& c, const Plan& plan, RenderTarget target, const RenderOptions& options) {
  const planner::Workload& w = plan.workload;
  c["generated_by"] = fmt::format("crmctl {}", options.version);
  // What runs slices (compose's crmd, the Kubernetes slice hosts) needs the sidecar's image when
  // the engine is a wa-web one (docs/operations.md, "Container image"); the gateway never does.
  c["image"] = {{"crmd", CrmdImage(options)},
                {"wa_web", WaWebImage(options)},
                {"slices", UsesWaWeb(plan) ? WaWebImage(options) : CrmdImage(options)}};
  c["target"] = std::string(RenderTargetName(target));
  c["domain"] = options.domain;
  c["tier"] = {{"id", plan.tier->id},
               {"name", plan.tier->name},
               {"topology", std::string(planner::TopologyName(plan.tier->topology))}};
  c["workload"] = {{"customers", w.customers},
                   {"engine", w.engine},
                   {"devices_per_customer", w.devices_per_customer},
                   {"regions", w.regions}};
  // What a WhatsApp Web engine needs on the hosts that run slices (docs/operations.md, "WhatsApp
  // Web sessions"): Node >= 18 (Debian 12's nodejs runs both engines), the sidecar, and chromium
  // for webjs. Always defined, so templates test `wa_web.enabled`.
  const bool wa_web = UsesWaWeb(plan);
  c["wa_web"] = {
      {"enabled", wa_web},
      {"engine", w.engine},
      {"sidecar", kWaWebSidecar},
      {"packages", w.engine == "webjs" ? "nodejs chromium" : "nodejs"},
      {"needs", w.engine == "webjs" ? "Node >= 18 and the chromium package" : "Node >= 18"},
      {"node_major", 18},
      {"node_note", "Debian 12 ships nodejs 18"}};
  Json knob = Json::object();
  Json knobs = Json::array();
  for (const auto& [k, v] : plan.knobs) {
    knob[std::string(k)] = KnobString(v);
    knobs.push_back({{"name", std::string(k)}, {"value", KnobString(v)}});
  }
  c["knob"] = knob;
  c["knobs"] = knobs;
  Json pg_conf = Json::array();
  for (const auto& [name, value] : plan.postgres) {
    pg_conf.push_back(
        {{"name", std::string(name)}, {"value", planner::PostgresValueText(name, value)}});
  }
  c["postgres_conf"] = pg_conf;
  // The off-host pgBackRest repository (docs/operations.md "Backups (rendered targets)"). The
  // plan has no backup setting, so retention is the local target's default (2 full backups);
  // the bucket, endpoint and region belong to the operator: placeholders that install.sh
  // refuses to create the stanza with.
  c["backup"] = {{"stanza", "crm"},
                 {"retention_full", kBackupRetentionFull},
                 // CloudNativePG keeps by age: the weeks the weekly fulls cover.
                 {"retention_days", kBackupRetentionFull * 7},
                 {"placeholder", kBackupPlaceholder},
                 {"repo_path", fmt::format("/crm/{}", options.domain)}};
}

double SharedBuffers(const Plan& plan) {
  double shared_buffers = 0;
  for (const auto& [name, value] : plan.postgres) {
    if (name == "shared_buffers") {
      shared_buffers = value;
    }
  }
  return shared_buffers;
}

// has_*, ports, database, pgbouncer, slice.
void AddServices(Json& c, const Plan& plan, const Rows& rows, const Database& db) {
  c["has_replica"] = rows.replica != nullptr;
  c["has_queue_db"] = rows.queue_db != nullptr;
  c["has_lb"] = rows.lb != nullptr;
  c["no_lb"] = rows.lb == nullptr;
  c["has_monitoring_host"] = rows.monitoring != nullptr;
  c["no_monitoring_host"] = rows.monitoring == nullptr;
  c["has_pgbouncer"] = db.pooled;
  c["multi_region"] = plan.workload.regions > 1;
  c["ports"] = {{"gateway", kGatewayPort},
                {"slice_host", kSliceHostPort},
                {"postgres", kPostgresPort},
                {"queue", kQueuePort},
                {"pgbouncer", kPgBouncerPort},
                {"prometheus", 9090},
                {"grafana", 3000},
                {"loki", 3100},
                {"node_exporter", 9100},
                {"postgres_exporter", 9187}};
  c["database"] = {
      {"name", "crm"}, {"user", "crm"}, {"host", db.host}, {"port", db.port}, {"url", db.url}};
  c["pgbouncer"] = {{"max_client_conn", KnobNumber(plan, "PGBOUNCER_MAX_CLIENT_CONN", 0)},
                    {"default_pool_size", KnobNumber(plan, "PGBOUNCER_DEFAULT_POOL_SIZE", 0)},
                    {"max_db_connections", KnobNumber(plan, "PGBOUNCER_MAX_DB_CONNECTIONS", 0)},
                    {"num_pools", KnobNumber(plan, "PGBOUNCER_NUM_POOLS", 0)},
                    {"reserve_pool_size", 2}};
  const long long slice_limit = KnobNumber(plan, "SLICE_MEMORY_LIMIT", 0);
  c["slice"] = {{"memory_limit_mib", std::max(1LL, Mib(static_cast<double>(slice_limit)) + 1)},
                {"storage_quota_bytes", KnobNumber(plan, "SLICE_STORAGE_QUOTA", 0)}};
}

// The hosts of a rendering and the lists the templates iterate.
struct HostLists {
  Json hosts = Json::array();
  Json app_hosts = Json::array();
  Json slice_hosts = Json::array();
  Json scrape = Json::array();
};

// vps and compose: one host running everything; crmd's limits are also the context's "crmd".
HostLists SingleHost(Json& c, const Plan& plan, RenderTarget target, const Database& db,
                     const std::string& public_url) {
  HostLists lists;
  const LayoutRow& row = plan.layout.front();
  const CrmdLimits limits = LimitsFor(plan, row, SharedBuffers(plan));
  const std::string cpus = FormatNumber(static_cast<double>(limits.cpu_quota_percent) / 100.0, 2);
  const std::string listen = fmt::format(
      "{}:{}", target == RenderTarget::kCompose ? "0.0.0.0" : "127.0.0.1", kGatewayPort);
  lists.hosts.push_back(
      {{"name", "vps"},
       {"role", "all"},
       {"index", 1},
       {"vcpu", FormatNumber(row.server->vcpu)},
       {"ram_mib", Mib(row.server->ram_bytes)},
       {"server", row.server->name},
       {"memory_max_mib", limits.memory_max_mib},
       {"cpu_quota_percent", limits.cpu_quota_percent},
       {"cpus", cpus},
       {"env",
        EnvList(plan, db.url, listen,
                // nginx: on loopback (vps), the project's network
                // (compose)
                {public_url, target == RenderTarget::kCompose ? kComposeSubnet : "127.0.0.1"})}});
  c["crmd"] = {{"memory_max_mib", limits.memory_max_mib},
               {"cpu_quota_percent", limits.cpu_quota_percent},
               {"cpus", cpus}};
  return lists;
}

// The queue database holds only pending tasks: PGTune's memory split for its host.
Json QueueConf(const LayoutRow& row) {
  const double ram = row.server->ram_bytes;
  const auto text = [](const char* name, double bytes) {
    return planner::PostgresValueText(name, bytes);
  };
  return Json::array({
      Json{{"name", "max_connections"}, {"value", "200"}},
      Json{{"name", "shared_buffers"},
           {"value", text("shared_buffers", std::floor(ram / 4 / 8192) * 8192)}},
      Json{{"name", "effective_cache_size"},
           {"value", text("effective_cache_size", std::floor(ram * 3 / 4 / 8192) * 8192)}},
      Json{{"name", "work_mem"}, {"value", "4MB"}},
      Json{{"name", "random_page_cost"}, {"value", "1.1"}},
      Json{{"name", "statement_timeout"}, {"value", "30s"}},
  });
}

// One host of a multi-server layout: what it is and runs (the is_*/runs_* switches).
Json MultiHost(const LayoutRow& row, std::size_t i, const std::string& name, const Rows& rows,
               bool pooled) {
  Json h = {{"name", name},
            {"role", row.spec->role},
            {"index", i + 1},
            {"vcpu", FormatNumber(row.server->vcpu)},
            {"ram_mib", Mib(row.server->ram_bytes)},
            {"server", row.server->name}};
  const unsigned carries = row.spec->carries;
  const bool runs_crmd = (carries & (planner::kCarrySessions | planner::kCarryWebsockets)) != 0;
  const std::string& role = row.spec->role;
  const bool is_app = (carries & planner::kCarryWebsockets) && !(carries & planner::kCarrySessions);
  h["is_lb"] = role == "lb";
  h["is_app"] = is_app;
  h["is_slice"] = (carries & planner::kCarrySessions) != 0;
  h["is_pg_primary"] = &row == rows.pg;
  h["is_pg_replica"] = &row == rows.replica;
  h["is_queue"] = &row == rows.queue_db;
  h["is_postgres"] = &row == rows.pg || &row == rows.replica || &row == rows.queue_db;
  h["is_monitoring"] = &row == rows.monitoring;
  h["runs_crmd"] = runs_crmd;
  h["runs_nginx"] = role == "lb" || (is_app && rows.lb == nullptr && i == 0);
  h["runs_monitoring"] =
      &row == rows.monitoring || (rows.monitoring == nullptr && is_app && i == 0);
  h["runs_pgbouncer"] = pooled && &row == (rows.pgbouncer != nullptr ? rows.pgbouncer : rows.pg);
  // The queue stores after the first follow it as hot standbys (promoted by hand, see
  // docs/operations.md "Rendering a deployment").
  h["is_queue_primary"] = &row == rows.queue_db && i == 0;
  h["is_queue_standby"] = &row == rows.queue_db && i > 0;
  if (&row == rows.queue_db) {
    h["queue_conf"] = QueueConf(row);
  }
  // Where install.sh makes crmd's login and its database: the primary (crm), the queue store's
  // primary (crm_queue, which QUEUE_DATABASE_URL names).
  const bool primary = &row == rows.pg;
  h["creates_crm_login"] = primary || (&row == rows.queue_db && i == 0);
  h["crm_database"] = primary ? "crm" : "crm_queue";
  return h;
}

// split and ha: one entry per server of the layout; slice hosts get a shard range each.
HostLists MultiHosts(const Plan& plan, const Rows& rows, const Database& db,
                     const std::string& public_url) {
  HostLists lists;
  const std::vector<std::string> ranges = ShardRanges(plan);
  std::size_t slice_index = 0;
  for (const LayoutRow& row : plan.layout) {
    const std::vector<std::string> names = HostNames(row);
    for (std::size_t i = 0; i < names.size(); ++i) {
      Json h = MultiHost(row, i, names[i], rows, db.pooled);
      if (h["runs_crmd"].get<bool>()) {
        const CrmdLimits limits = LimitsFor(plan, row, 0);
        h["memory_max_mib"] = limits.memory_max_mib;
        h["cpu_quota_percent"] = limits.cpu_quota_percent;
      }
      if (row.spec->carries & planner::kCarrySessions) {
        const std::string range = slice_index < ranges.size() ? ranges[slice_index] : "0-100";
        ++slice_index;
        h["shard_range"] = range;
        h["env"] = EnvList(plan, db.url, fmt::format("0.0.0.0:{}", kSliceHostPort), {},
                           "WORKER_SHARD_RANGE", range);
        // Where the gateways reach it (recorded as its slices' endpoint): its name on the
        // private network, as nginx-lb.conf and prometheus.yml name it.
        h["env"].push_back({{"name", "CRM_ADVERTISE_ADDRESS"},
                            {"value", fmt::format("{}:{}", names[i], kSliceHostPort)}});
        lists.slice_hosts.push_back(
            {{"name", names[i]}, {"port", kSliceHostPort}, {"shard_range", range}});
        lists.scrape.push_back(
            {{"target", fmt::format("{}:{}", names[i], kSliceHostPort)}, {"job", "crmd-slice"}});
      } else if (row.spec->carries & planner::kCarryWebsockets) {
        h["env"] = EnvList(plan, db.url, fmt::format("0.0.0.0:{}", kGatewayPort),
                           {public_url, kPrivateNetworks});
        lists.app_hosts.push_back({{"name", names[i]}, {"port", kGatewayPort}});
        lists.scrape.push_back(
            {{"target", fmt::format("{}:{}", names[i], kGatewayPort)}, {"job", "crmd-gateway"}});
      }
      if (h.contains("env") && !db.direct_url.empty()) {
        h["env"].push_back({{"name", "CRM_DATABASE_DIRECT_URL"}, {"value", db.direct_url}});
      }
      if (h.contains("env")) {
        // Gateways present it to slice hosts, which refuse anyone else (docs/operations.md,
        // "Scale-out: gateways and slice hosts").
        h["env"].push_back(
            {{"name", "CRM_INTERNAL_TOKEN_FILE"}, {"value", "/etc/crmd/secrets/internal_token"}});
      }
      lists.hosts.push_back(h);
    }
  }
  return lists;
}

// k8s: the node pool as one host; pods must fit one node.
HostLists ClusterHost(const Plan& plan) {
  HostLists lists;
  const LayoutRow* nodes = RowCarrying(plan, planner::kCarrySessions);
  lists.hosts.push_back({{"name", "cluster"},
                         {"role", "k8s"},
                         {"index", 1},
                         {"vcpu", FormatNumber(nodes != nullptr ? nodes->server->vcpu : 0)},
                         {"ram_mib", nodes != nullptr ? Mib(nodes->server->ram_bytes) : 0},
                         {"server", nodes != nullptr ? nodes->server->name : std::string()}});
  return lists;
}

void AddHostLists(Json& c, const HostLists& lists, const Rows& rows, RenderTarget target) {
  c["hosts"] = lists.hosts;
  c["app_hosts"] = lists.app_hosts;
  c["slice_hosts"] = lists.slice_hosts;
  c["scrape_targets"] = lists.scrape;
  c["monitoring_host"] = rows.monitoring != nullptr ? HostNames(*rows.monitoring).front()
                         : lists.app_hosts.empty()
                             ? std::string("127.0.0.1")
                             : lists.app_hosts.front()["name"].get<std::string>();
  c["primary_host"] = rows.pg != nullptr && target == RenderTarget::kMulti
                          ? HostNames(*rows.pg).front()
                          : std::string("127.0.0.1");
  c["queue_host"] = rows.queue_db != nullptr ? HostNames(*rows.queue_db).front() : std::string();
  c["replica_host"] = rows.replica != nullptr ? HostNames(*rows.replica).front() : std::string();
  // Where PgBouncer finds PostgreSQL: beside it, or on the primary from a host of its own.
  c["pgbouncer_backend"] = rows.pgbouncer != nullptr && rows.pg != nullptr
                               ? HostNames(*rows.pg).front()
                               : std::string("127.0.0.1");
}

// The cluster's sizes: regions, pods, CloudNativePG and its pooler.
void AddKubernetes(Json& c, const Plan& plan) {
  const planner::Workload& w = plan.workload;
  const long long pod_memory = KnobNumber(plan, "POD_MEMORY_LIMIT", 4LL << 30);
  const LayoutRow* pg_nodes = RowCarrying(plan, planner::kCarryMessages);
  Json regions = Json::array();
  // CRM_REGIONS: every region's origin, as each region's Ingress serves it (docs/operations.md,
  // "Regions"); only rendered with several regions.
  std::string regions_env;
  for (long long r = 1; r <= w.regions; ++r) {
    const std::string name = w.regions == 1 ? "main" : fmt::format("region-{}", r);
    regions_env += fmt::format("{}{}=https://{}.{}", regions_env.empty() ? "" : ",", name, name,
                               c["domain"].get<std::string>());
    regions.push_back(
        {{"name", name},
         {"index", r},
         {"namespace", w.regions == 1 ? std::string("crm") : fmt::format("crm-{}", name)}});
  }
  const double storage = pg_nodes != nullptr ? pg_nodes->disk_demand : 100e9;
  // CloudNativePG runs the pooler as several PgBouncer instances, and PgBouncer's limits are
  // per instance: split the plan's budget so the instances together stay within it.
  constexpr long long kPoolerInstances = 2;
  const long long max_db = KnobNumber(plan, "PGBOUNCER_MAX_DB_CONNECTIONS", 0);
  const long long pools = std::max(1LL, KnobNumber(plan, "PGBOUNCER_NUM_POOLS", 1));
  const long long per_instance_db = std::max(pools, max_db / kPoolerInstances);
  c["pgbouncer"]["max_db_connections"] = per_instance_db;
  c["pgbouncer"]["default_pool_size"] = std::max(1LL, per_instance_db / pools);
  c["pgbouncer"]["max_client_conn"] =
      std::max(100LL, KnobNumber(plan, "PGBOUNCER_MAX_CLIENT_CONN", 0) / kPoolerInstances + 1);
  c["pgbouncer"]["reserve_pool_size"] = 1;
  c["k8s"] = {
      {"multi_region", w.regions > 1},
      {"regions", regions},
      {"regions_env", regions_env},
      {"slice_hosts", KnobNumber(plan, "SLICE_HOSTS", 2)},
      {"gateway_hpa_min", KnobNumber(plan, "GATEWAY_HPA_MIN", 2)},
      {"gateway_hpa_max", KnobNumber(plan, "GATEWAY_HPA_MAX", 10)},
      {"pod_memory_limit_mi", Mib(static_cast<double>(pod_memory))},
      {"pod_memory_request_mi", Mib(static_cast<double>(pod_memory) * 0.7)},
      {"gateway_memory_limit_mi", 1024},
      {"gateway_memory_request_mi", 512},
      {"cnpg_instances",
       pg_nodes != nullptr ? pg_nodes->count / std::max<long long>(1, w.regions) : 3},
      {"cnpg_storage_gi", std::max(10LL, static_cast<long long>(std::ceil(storage / kGiB)))},
      {"pooler_instances", kPoolerInstances},
  };
}

}  // namespace

Json RenderContext(const Plan& plan, RenderTarget target, const RenderOptions& options) {
  Json c;
  AddPlanFigures(c, plan, target, options);
  const Rows rows = FindRows(plan);
  const Database db = DatabaseFor(plan, target, rows);
  AddServices(c, plan, rows, db);
  // Hosts (multi), the single host (vps, compose) or the cluster (k8s).
  // Browsers reach every tier through TLS at the plan's domain (nginx, the LB or the Ingress).
  const std::string public_url = "https://" + options.domain;
  c["compose_subnet"] = kComposeSubnet;
  const HostLists lists = target == RenderTarget::kVps || target == RenderTarget::kCompose
                              ? SingleHost(c, plan, target, db, public_url)
                          : target == RenderTarget::kMulti ? MultiHosts(plan, rows, db, public_url)
                                                           : ClusterHost(plan);
  AddHostLists(c, lists, rows, target);
  if (target == RenderTarget::kK8s) {
    AddKubernetes(c, plan);
  }
  return c;
}

std::string CrmdImage(const RenderOptions& options) {
  return options.image.empty() ? fmt::format("crmd:{}", options.version) : options.image;
}

std::string WaWebImage(const RenderOptions& options) {
  return options.wa_web_image.empty() ? fmt::format("crmd-wa-web:{}", options.version)
                                      : options.wa_web_image;
}

// The engines whose sessions the wa-web sidecar holds (docs/wa-web.md): their hosts need Node,
// and webjs also Debian's chromium.
bool UsesWaWeb(const Plan& plan) {
  return plan.workload.engine == "noweb" || plan.workload.engine == "webjs";
}

bool ImagePinned(const std::string& image) {
  static const std::regex kDigest("@sha256:[0-9a-f]{64}$");
  return std::regex_search(image, kDigest);
}

void CheckImageReference(const std::string& image, const std::string& field) {
  // name components, an optional registry with port, an optional tag, an optional digest
  static const std::regex kReference(
      "^([a-z0-9][a-z0-9.-]*(:[0-9]+)?/)?[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*"
      "(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$");
  std::smatch m;
  if (!std::regex_match(image, m, kReference)) {
    throw InputError(fmt::format("{}: '{}' is not an image reference (expected "
                                 "[registry/]name:tag[@sha256:digest])",
                                 field, image),
                     field);
  }
  const std::string tag = m[6].matched ? m[6].str().substr(1) : "";
  if (tag.empty() && !m[7].matched) {  // groups: 6 the tag, 7 the digest
    throw InputError(fmt::format("{}: '{}' names no tag or digest, which means whatever `latest` "
                                 "is at pull time; name a version tag and, better, its digest",
                                 field, image),
                     field);
  }
  if (tag == "latest") {
    throw InputError(fmt::format("{}: '{}': the tag `latest` moves under the same rendering; name "
                                 "a version tag and its digest (scripts/build-image writes both)",
                                 field, image),
                     field);
  }
}

nlohmann::ordered_json ManifestJson(const Plan& plan, const Rendering& rendering,
                                    const RenderOptions& options) {
  Json m;
  m["generated_by"] = fmt::format("crmctl {}", options.version);
  m["target"] = std::string(RenderTargetName(rendering.target));
  m["tier"] = {{"id", plan.tier->id}, {"name", plan.tier->name}};
  m["domain"] = options.domain;
  Json hosts = Json::array();
  for (const RenderedHost& h : rendering.hosts) {
    hosts.push_back({{"name", h.name},
                     {"role", h.role},
                     {"vcpu", h.vcpu},
                     {"ram_bytes", std::llround(h.ram_bytes)}});
  }
  m["hosts"] = hosts;
  Json knobs = Json::object();
  for (const auto& [k, v] : plan.knobs) {
    knobs[std::string(k)] = KnobString(v);
  }
  m["knobs"] = knobs;
  Json files = Json::array();
  for (const RenderedFile& f : rendering.files) {
    files.push_back({{"path", f.path},
                     {"sha256", Sha256Hex(f.content)},
                     {"host", f.host},
                     {"role", f.role},
                     {"mode", fmt::format("{:04o}", f.mode)}});
  }
  m["files"] = files;
  return m;
}

}  // namespace crm::render
