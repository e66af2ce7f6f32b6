#include "crm/planner/render.hpp"

#include <fmt/format.h>
#include <kainjow/mustache.hpp>
#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "crm/error.hpp"
#include "crm/planner/report.hpp"
#include "crm/units.hpp"
#include "crm/yaml_source.hpp"

namespace crm::planner {
namespace {

using Json = nlohmann::ordered_json;
using Data = kainjow::mustache::data;

constexpr double kMiB = 1024.0 * 1024;
constexpr double kGiB = 1024.0 * 1024 * 1024;
constexpr int kGatewayPort = 8080;
constexpr int kSliceHostPort = 8090;
constexpr int kPostgresPort = 5432;
constexpr int kQueuePort = 5432;
constexpr int kPgBouncerPort = 6432;

// Mustache sees JSON converted to its own data: objects, lists, strings; booleans stay booleans
// so sections ({{#has_replica}}) work.
Data ToMustache(const Json& j) {
  if (j.is_object()) {
    Data d{Data::type::object};
    for (auto it = j.begin(); it != j.end(); ++it) {
      d.set(it.key(), ToMustache(it.value()));
    }
    return d;
  }
  if (j.is_array()) {
    Data d{Data::type::list};
    for (const Json& item : j) {
      d.push_back(ToMustache(item));
    }
    return d;
  }
  if (j.is_boolean()) {
    return j.get<bool>() ? Data{Data::type::bool_true} : Data{Data::type::bool_false};
  }
  if (j.is_string()) {
    return Data{j.get<std::string>()};
  }
  if (j.is_null()) {
    return Data{Data::type::bool_false};
  }
  return Data{j.dump()};
}

std::string KnobString(const KnobValue& v) {
  if (const auto* n = std::get_if<long long>(&v)) {
    return std::to_string(*n);
  }
  return std::get<std::string>(v);
}

long long Mib(double bytes) { return static_cast<long long>(std::floor(bytes / kMiB)); }

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

Json EnvList(const Plan& plan, const std::string& database_url, const std::string& listen,
             const std::string& extra_name = {}, const std::string& extra_value = {}) {
  Json env = Json::array();
  env.push_back({{"name", "CRM_DATABASE_URL"}, {"value", database_url}});
  env.push_back({{"name", "CRM_DATABASE_PASSWORD_FILE"}, {"value", "/etc/crmd/secrets/db_password"}});
  env.push_back({{"name", "CRM_LISTEN"}, {"value", listen}});
  env.push_back({{"name", "CRM_DATA_DIR"}, {"value", "/var/lib/crmd"}});
  for (const auto& [k, v] : plan.knobs) {
    if (k == "WORKER_SHARD_RANGE") {
      continue;  // per slice host, below
    }
    env.push_back({{"name", std::string(k)}, {"value", KnobString(v)}});
  }
  if (!extra_name.empty()) {
    env.push_back({{"name", extra_name}, {"value", extra_value}});
  }
  env.push_back({{"name", "CRM_STRIPE_SECRET_KEY_FILE"}, {"value", "/etc/crmd/secrets/stripe_secret_key"}});
  env.push_back({{"name", "CRM_STRIPE_WEBHOOK_SECRET_FILE"},
                 {"value", "/etc/crmd/secrets/stripe_webhook_secret"}});
  env.push_back({{"name", "CRM_WHATSAPP_APP_SECRET_FILE"},
                 {"value", "/etc/crmd/secrets/whatsapp_app_secret"}});
  env.push_back({{"name", "CRM_WHATSAPP_VERIFY_TOKEN_FILE"},
                 {"value", "/etc/crmd/secrets/whatsapp_verify_token"}});
  return env;
}

std::vector<std::string> ShardRanges(const Plan& plan) {
  std::vector<std::string> ranges;
  const std::string all = KnobText(plan, "WORKER_SHARD_RANGE");
  std::size_t start = 0;
  while (start < all.size()) {
    const std::size_t comma = all.find(',', start);
    ranges.push_back(all.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    start = comma == std::string::npos ? all.size() : comma + 1;
  }
  return ranges;
}

}  // namespace

RenderTarget ParseRenderTarget(std::string_view text) {
  if (text == "vps") {
    return RenderTarget::kVps;
  }
  if (text == "compose") {
    return RenderTarget::kCompose;
  }
  if (text == "multi") {
    return RenderTarget::kMulti;
  }
  if (text == "k8s") {
    return RenderTarget::kK8s;
  }
  throw InputError(
      fmt::format("--target: unknown '{}' (expected vps, compose, multi, k8s)", text));
}

std::string_view RenderTargetName(RenderTarget target) {
  switch (target) {
    case RenderTarget::kVps:
      return "vps";
    case RenderTarget::kCompose:
      return "compose";
    case RenderTarget::kMulti:
      return "multi";
    case RenderTarget::kK8s:
      return "k8s";
  }
  return "?";
}

std::vector<RenderTarget> TargetsFor(const Tier& tier) {
  switch (tier.topology) {
    case Topology::kSingle:
      return {RenderTarget::kVps, RenderTarget::kCompose};
    case Topology::kSplit:
    case Topology::kHa:
      return {RenderTarget::kMulti};
    case Topology::kK8s:
      return {RenderTarget::kK8s};
  }
  return {};
}

Json RenderContext(const Plan& plan, RenderTarget target, const RenderOptions& options) {
  const Workload& w = plan.workload;
  Json c;
  c["generated_by"] = fmt::format("crmctl {}", options.version);
  c["target"] = std::string(RenderTargetName(target));
  c["domain"] = options.domain;
  c["tier"] = {{"id", plan.tier->id},
               {"name", plan.tier->name},
               {"topology", std::string(TopologyName(plan.tier->topology))}};
  c["workload"] = {{"customers", w.customers},
                   {"engine", w.engine},
                   {"devices_per_customer", w.devices_per_customer},
                   {"regions", w.regions}};
  Json knob = Json::object();
  Json knobs = Json::array();
  for (const auto& [k, v] : plan.knobs) {
    knob[std::string(k)] = KnobString(v);
    knobs.push_back({{"name", std::string(k)}, {"value", KnobString(v)}});
  }
  c["knob"] = knob;
  c["knobs"] = knobs;
  Json pg_conf = Json::array();
  double shared_buffers = 0;
  for (const auto& [name, value] : plan.postgres) {
    pg_conf.push_back({{"name", std::string(name)}, {"value", PostgresValueText(name, value)}});
    if (name == "shared_buffers") {
      shared_buffers = value;
    }
  }
  c["postgres_conf"] = pg_conf;

  const LayoutRow* pg_row = RowCarrying(plan, kCarryMessages);
  const LayoutRow* replica = RowNamed(plan, "postgres-replica");
  const LayoutRow* queue_db = RowNamed(plan, "queue-db");
  const LayoutRow* lb = RowNamed(plan, "lb");
  const LayoutRow* monitoring = RowNamed(plan, "monitoring");
  const std::string pg_host = target == RenderTarget::kMulti && pg_row != nullptr
                                  ? HostNames(*pg_row).front()
                                  : target == RenderTarget::kCompose ? "postgres" : "127.0.0.1";
  const bool pooled = plan.tier->pgbouncer;
  const int pg_client_port = pooled ? kPgBouncerPort : kPostgresPort;
  const std::string database_url =
      fmt::format("postgresql://crm@{}:{}/crm", pg_host, pg_client_port);

  c["has_replica"] = replica != nullptr;
  c["has_queue_db"] = queue_db != nullptr;
  c["has_lb"] = lb != nullptr;
  c["no_lb"] = lb == nullptr;
  c["has_monitoring_host"] = monitoring != nullptr;
  c["no_monitoring_host"] = monitoring == nullptr;
  c["has_pgbouncer"] = pooled;
  c["multi_region"] = w.regions > 1;
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
  c["database"] = {{"name", "crm"},
                   {"user", "crm"},
                   {"host", pg_host},
                   {"port", pg_client_port},
                   {"url", database_url}};
  c["pgbouncer"] = {{"max_client_conn", KnobNumber(plan, "PGBOUNCER_MAX_CLIENT_CONN", 0)},
                    {"default_pool_size", KnobNumber(plan, "PGBOUNCER_DEFAULT_POOL_SIZE", 0)},
                    {"max_db_connections", KnobNumber(plan, "PGBOUNCER_MAX_DB_CONNECTIONS", 0)},
                    {"num_pools", KnobNumber(plan, "PGBOUNCER_NUM_POOLS", 0)},
                    {"reserve_pool_size", 2}};
  const long long slice_limit = KnobNumber(plan, "SLICE_MEMORY_LIMIT", 0);
  c["slice"] = {{"memory_limit_mib", std::max(1LL, Mib(static_cast<double>(slice_limit)) + 1)},
                {"storage_quota_bytes", KnobNumber(plan, "SLICE_STORAGE_QUOTA", 0)}};

  // Hosts (multi), the single host (vps, compose) or the cluster (k8s).
  Json hosts = Json::array();
  Json app_hosts = Json::array();
  Json slice_hosts = Json::array();
  Json scrape = Json::array();
  if (target == RenderTarget::kVps || target == RenderTarget::kCompose) {
    const LayoutRow& row = plan.layout.front();
    const CrmdLimits limits = LimitsFor(plan, row, shared_buffers);
    hosts.push_back({{"name", "vps"},
                     {"role", "all"},
                     {"index", 1},
                     {"vcpu", FormatNumber(row.server->vcpu)},
                     {"ram_mib", Mib(row.server->ram_bytes)},
                     {"server", row.server->name},
                     {"memory_max_mib", limits.memory_max_mib},
                     {"cpu_quota_percent", limits.cpu_quota_percent},
                     {"cpus", FormatNumber(static_cast<double>(limits.cpu_quota_percent) / 100.0, 2)},
                     {"env", EnvList(plan, database_url,
                                     fmt::format("{}:{}",
                                                 target == RenderTarget::kCompose ? "0.0.0.0"
                                                                                  : "127.0.0.1",
                                                 kGatewayPort))}});
    c["crmd"] = {{"memory_max_mib", limits.memory_max_mib},
                 {"cpu_quota_percent", limits.cpu_quota_percent},
                 {"cpus", FormatNumber(static_cast<double>(limits.cpu_quota_percent) / 100.0, 2)}};
  } else if (target == RenderTarget::kMulti) {
    const std::vector<std::string> ranges = ShardRanges(plan);
    std::size_t slice_index = 0;
    for (const LayoutRow& row : plan.layout) {
      const std::vector<std::string> names = HostNames(row);
      for (std::size_t i = 0; i < names.size(); ++i) {
        Json h = {{"name", names[i]},
                  {"role", row.spec->role},
                  {"index", i + 1},
                  {"vcpu", FormatNumber(row.server->vcpu)},
                  {"ram_mib", Mib(row.server->ram_bytes)},
                  {"server", row.server->name}};
        const bool runs_crmd = (row.spec->carries & (kCarrySessions | kCarryWebsockets)) != 0;
        const std::string& role = row.spec->role;
        const bool is_app = (row.spec->carries & kCarryWebsockets) &&
                            !(row.spec->carries & kCarrySessions);
        h["is_lb"] = role == "lb";
        h["is_app"] = is_app;
        h["is_slice"] = (row.spec->carries & kCarrySessions) != 0;
        h["is_pg_primary"] = &row == pg_row;
        h["is_pg_replica"] = &row == replica;
        h["is_queue"] = &row == queue_db;
        h["is_postgres"] = &row == pg_row || &row == replica || &row == queue_db;
        h["is_monitoring"] = &row == monitoring;
        h["runs_crmd"] = runs_crmd;
        h["runs_nginx"] = role == "lb" || (is_app && lb == nullptr && i == 0);
        h["runs_monitoring"] =
            &row == monitoring || (monitoring == nullptr && is_app && i == 0);
        h["runs_pgbouncer"] = pooled && &row == pg_row;
        if (&row == queue_db) {
          // The queue database holds only pending tasks: PGTune's memory split for its host.
          const double ram = row.server->ram_bytes;
          h["queue_conf"] = Json::array({
              Json{{"name", "max_connections"}, {"value", "200"}},
              Json{{"name", "shared_buffers"}, {"value", PostgresValueText("shared_buffers", std::floor(ram / 4 / 8192) * 8192)}},
              Json{{"name", "effective_cache_size"}, {"value", PostgresValueText("effective_cache_size", std::floor(ram * 3 / 4 / 8192) * 8192)}},
              Json{{"name", "work_mem"}, {"value", "4MB"}},
              Json{{"name", "random_page_cost"}, {"value", "1.1"}},
              Json{{"name", "statement_timeout"}, {"value", "30s"}},
          });
        }
        if (runs_crmd) {
          const CrmdLimits limits = LimitsFor(plan, row, 0);
          h["memory_max_mib"] = limits.memory_max_mib;
          h["cpu_quota_percent"] = limits.cpu_quota_percent;
        }
        if (row.spec->carries & kCarrySessions) {
          const std::string range = slice_index < ranges.size() ? ranges[slice_index] : "0-100";
          ++slice_index;
          h["shard_range"] = range;
          h["env"] = EnvList(plan, database_url, fmt::format("0.0.0.0:{}", kSliceHostPort),
                             "WORKER_SHARD_RANGE", range);
          slice_hosts.push_back({{"name", names[i]}, {"port", kSliceHostPort}, {"shard_range", range}});
          scrape.push_back({{"target", fmt::format("{}:{}", names[i], kSliceHostPort)}, {"job", "crmd-slice"}});
        } else if (row.spec->carries & kCarryWebsockets) {
          h["env"] = EnvList(plan, database_url, fmt::format("0.0.0.0:{}", kGatewayPort));
          app_hosts.push_back({{"name", names[i]}, {"port", kGatewayPort}});
          scrape.push_back({{"target", fmt::format("{}:{}", names[i], kGatewayPort)}, {"job", "crmd-gateway"}});
        }
        hosts.push_back(h);
      }
    }
  } else {
    // The node pool: pods must fit one node.
    const LayoutRow* nodes = RowCarrying(plan, kCarrySessions);
    hosts.push_back({{"name", "cluster"},
                     {"role", "k8s"},
                     {"index", 1},
                     {"vcpu", FormatNumber(nodes != nullptr ? nodes->server->vcpu : 0)},
                     {"ram_mib", nodes != nullptr ? Mib(nodes->server->ram_bytes) : 0},
                     {"server", nodes != nullptr ? nodes->server->name : std::string()}});
  }
  c["hosts"] = hosts;
  c["app_hosts"] = app_hosts;
  c["slice_hosts"] = slice_hosts;
  c["scrape_targets"] = scrape;
  c["monitoring_host"] = monitoring != nullptr ? HostNames(*monitoring).front()
                         : app_hosts.empty()   ? std::string("127.0.0.1")
                                               : app_hosts.front()["name"].get<std::string>();
  c["primary_host"] = pg_row != nullptr && target == RenderTarget::kMulti
                          ? HostNames(*pg_row).front()
                          : std::string("127.0.0.1");
  c["queue_host"] = queue_db != nullptr ? HostNames(*queue_db).front() : std::string();
  c["replica_host"] = replica != nullptr ? HostNames(*replica).front() : std::string();

  if (target == RenderTarget::kK8s) {
    const long long pod_memory = KnobNumber(plan, "POD_MEMORY_LIMIT", 4LL << 30);
    const LayoutRow* pg_nodes = RowCarrying(plan, kCarryMessages);
    Json regions = Json::array();
    for (long long r = 1; r <= w.regions; ++r) {
      const std::string name = w.regions == 1 ? "main" : fmt::format("region-{}", r);
      regions.push_back({{"name", name},
                         {"index", r},
                         {"namespace", w.regions == 1 ? std::string("crm")
                                                      : fmt::format("crm-{}", name)}});
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
        {"slice_hosts", KnobNumber(plan, "SLICE_HOSTS", 2)},
        {"gateway_hpa_min", KnobNumber(plan, "GATEWAY_HPA_MIN", 2)},
        {"gateway_hpa_max", KnobNumber(plan, "GATEWAY_HPA_MAX", 10)},
        {"pod_memory_limit_mi", Mib(static_cast<double>(pod_memory))},
        {"pod_memory_request_mi", Mib(static_cast<double>(pod_memory) * 0.7)},
        {"gateway_memory_limit_mi", 1024},
        {"gateway_memory_request_mi", 512},
        {"cnpg_instances", pg_nodes != nullptr ? pg_nodes->count / std::max<long long>(1, w.regions) : 3},
        {"cnpg_storage_gi", std::max(10LL, static_cast<long long>(std::ceil(storage / kGiB)))},
        {"pooler_instances", kPoolerInstances},
    };
  }
  return c;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  std::string hex;
  hex.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    hex += fmt::format("{:02x}", digest[i]);
  }
  return hex;
}

namespace {

struct FileRule {
  std::string template_name;
  std::string path;  // a Mustache template itself ({{host.name}}, {{region.name}})
  std::vector<std::string> roles;  // host roles that get it; empty = every host
  std::string when;                // a context key that must be true
  int mode = 0644;
  bool per_region = false;
};

const TemplateFile* FindTemplate(const std::vector<TemplateFile>& templates,
                                 const std::string& name) {
  for (const TemplateFile& t : templates) {
    if (t.name == name) {
      return &t;
    }
  }
  return nullptr;
}

std::vector<FileRule> ReadIndex(const std::vector<TemplateFile>& templates, RenderTarget target) {
  const std::string index_name = fmt::format("{}/files.yaml", RenderTargetName(target));
  const TemplateFile* index = FindTemplate(templates, index_name);
  if (index == nullptr) {
    throw InputError(fmt::format("templates: missing {}", index_name));
  }
  const std::string file = "templates/" + index_name;
  const YAML::Node root = ParseYaml(index->text, file);
  StrictMap top(file, root, "index");
  const YAML::Node list = top.Required("files");
  top.Finish();
  std::vector<FileRule> rules;
  for (const YAML::Node& node : list) {
    StrictMap m(file, node, "file");
    FileRule rule;
    rule.template_name = fmt::format("{}/{}", RenderTargetName(target), m.RequiredString("template"));
    rule.path = m.RequiredString("path");
    if (YAML::Node roles = m.Optional("roles")) {
      for (const YAML::Node& r : roles) {
        rule.roles.push_back(ScalarString(file, r, "roles"));
      }
    }
    if (YAML::Node when = m.Optional("when")) {
      rule.when = ScalarString(file, when, "when");
    }
    if (YAML::Node mode = m.Optional("mode")) {
      const std::string text = ScalarString(file, mode, "mode");
      try {
        rule.mode = std::stoi(text, nullptr, 8);
      } catch (const std::exception&) {
        FailAt(file, mode, fmt::format("mode: expected octal such as 0600, got \"{}\"", text));
      }
    }
    rule.per_region = m.OptionalBool("per_region", false);
    m.Finish();
    if (FindTemplate(templates, rule.template_name) == nullptr) {
      FailAt(file, node, fmt::format("template: no file templates/{}", rule.template_name));
    }
    rules.push_back(std::move(rule));
  }
  return rules;
}

std::string RenderText(const std::string& name, std::string_view text, const Data& data) {
  kainjow::mustache::mustache tmpl{std::string(text)};
  if (!tmpl.is_valid()) {
    throw InputError(fmt::format("templates/{}: {}", name, tmpl.error_message()));
  }
  // Configuration files are not HTML: no escaping.
  tmpl.set_custom_escape([](const std::string& s) { return s; });
  std::string out = tmpl.render(data);
  if (!tmpl.is_valid()) {
    throw InputError(fmt::format("templates/{}: {}", name, tmpl.error_message()));
  }
  return out;
}

bool Truthy(const Json& context, const std::string& key) {
  const auto it = context.find(key);
  return it != context.end() && it->is_boolean() && it->get<bool>();
}

}  // namespace

Rendering Render(const Plan& plan, RenderTarget target, const RenderOptions& options,
                 const std::vector<TemplateFile>& templates) {
  const std::vector<RenderTarget> fits = TargetsFor(*plan.tier);
  if (std::find(fits.begin(), fits.end(), target) == fits.end()) {
    std::string names;
    for (RenderTarget t : fits) {
      names += names.empty() ? std::string(RenderTargetName(t)) : ", " + std::string(RenderTargetName(t));
    }
    throw InputError(fmt::format("--target: {} does not fit tier {} ({}, {} topology); use {}",
                                 RenderTargetName(target), plan.tier->id, plan.tier->name,
                                 TopologyName(plan.tier->topology), names));
  }
  const Json context = RenderContext(plan, target, options);
  const std::vector<FileRule> rules = ReadIndex(templates, target);
  Rendering r;
  r.target = target;
  for (const Json& h : context["hosts"]) {
    RenderedHost host;
    host.name = h["name"].get<std::string>();
    host.role = h["role"].get<std::string>();
    host.ram_bytes = h["ram_mib"].get<double>() * kMiB;
    host.vcpu = std::stod(h["vcpu"].get<std::string>());
    r.hosts.push_back(host);
  }
  for (const FileRule& rule : rules) {
    if (!rule.when.empty() && !Truthy(context, rule.when)) {
      continue;
    }
    const TemplateFile& tmpl = *FindTemplate(templates, rule.template_name);
    for (const Json& h : context["hosts"]) {
      const std::string role = h["role"].get<std::string>();
      if (!rule.roles.empty() &&
          std::find(rule.roles.begin(), rule.roles.end(), role) == rule.roles.end()) {
        continue;
      }
      std::vector<Json> scopes;
      if (rule.per_region && context.contains("k8s")) {
        for (const Json& region : context["k8s"]["regions"]) {
          scopes.push_back(region);
        }
      } else {
        scopes.push_back(Json(nullptr));
      }
      for (const Json& region : scopes) {
        Json local = context;
        local["host"] = h;
        if (!region.is_null()) {
          local["region"] = region;
        }
        const Data data = ToMustache(local);
        RenderedFile f;
        f.path = RenderText(rule.template_name + " (path)", rule.path, data);
        f.host = h["name"].get<std::string>();
        f.role = role;
        f.mode = rule.mode;
        f.content = RenderText(rule.template_name, tmpl.text, data);
        r.files.push_back(std::move(f));
      }
    }
  }
  std::sort(r.files.begin(), r.files.end(),
            [](const RenderedFile& a, const RenderedFile& b) { return a.path < b.path; });
  for (std::size_t i = 1; i < r.files.size(); ++i) {
    if (r.files[i].path == r.files[i - 1].path) {
      throw InputError(fmt::format("templates: two files render to {}", r.files[i].path));
    }
  }
  return r;
}

std::vector<std::string> UndefinedTemplateNames(const std::vector<TemplateFile>& templates,
                                                const Plan& plan, RenderTarget target,
                                                const RenderOptions& options) {
  // Render each template with a context where every lookup is recorded: a name that resolves
  // nowhere is reported. kainjow resolves dotted names and walks up the section stack, so we
  // check each tag against the context by path, including inside sections' items.
  Json context = RenderContext(plan, target, options);
  // Templates are rendered per host, and hosts of different roles carry different fields
  // (shard_range on slice hosts, queue_conf on the queue database): check against their union.
  Json merged = Json::object();
  for (const Json& h : context["hosts"]) {
    for (auto it = h.begin(); it != h.end(); ++it) {
      if (!merged.contains(it.key())) {
        merged[it.key()] = it.value();
      }
    }
  }
  context["host"] = merged;
  if (context.contains("k8s")) {
    context["region"] = context["k8s"]["regions"][0];
  }
  std::set<std::string> missing;
  const std::string prefix = std::string(RenderTargetName(target)) + "/";
  for (const TemplateFile& t : templates) {
    if (t.name.rfind(prefix, 0) != 0 || t.name.find(".mustache") == std::string::npos) {
      continue;
    }
    std::vector<const Json*> stack = {&context};
    std::string_view text = t.text;
    std::size_t pos = 0;
    while ((pos = text.find("{{", pos)) != std::string_view::npos) {
      const std::size_t end = text.find("}}", pos);
      if (end == std::string_view::npos) {
        break;
      }
      std::string tag(text.substr(pos + 2, end - pos - 2));
      pos = end + 2;
      if (!tag.empty() && tag.front() == '{') {
        tag = tag.substr(1);
        if (pos < text.size() && text[pos] == '}') {
          ++pos;
        }
      }
      char kind = tag.empty() ? ' ' : tag.front();
      if (kind == '!' || kind == '>' || kind == '=') {
        continue;
      }
      if (kind == '#' || kind == '^' || kind == '/' || kind == '&') {
        tag = tag.substr(1);
      } else {
        kind = ' ';
      }
      tag.erase(0, tag.find_first_not_of(' '));
      tag.erase(tag.find_last_not_of(' ') + 1);
      if (kind == '/') {
        if (stack.size() > 1) {
          stack.pop_back();
        }
        continue;
      }
      const Json* found = nullptr;
      if (tag == ".") {
        found = stack.back();
      } else {
        for (auto it = stack.rbegin(); it != stack.rend() && found == nullptr; ++it) {
          const Json* cur = *it;
          std::size_t start = 0;
          while (cur != nullptr && start <= tag.size()) {
            const std::size_t dot = tag.find('.', start);
            const std::string key = tag.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
            cur = cur->is_object() && cur->contains(key) ? &(*cur)[key] : nullptr;
            if (dot == std::string::npos) {
              break;
            }
            start = dot + 1;
          }
          found = cur;
        }
      }
      if (found == nullptr) {
        missing.insert(fmt::format("{}: {{{{{}}}}}", t.name, tag));
        if (kind == '#' || kind == '^') {
          stack.push_back(stack.back());
        }
        continue;
      }
      if (kind == '#' || kind == '^') {
        // Inside a list section the item is the new top of the stack.
        stack.push_back(found->is_array() && !found->empty() ? &(*found)[0] : found);
      }
    }
  }
  return {missing.begin(), missing.end()};
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

}  // namespace crm::planner
