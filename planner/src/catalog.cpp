#include "crm/planner/catalog.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "crm/error.hpp"
#include "crm/units.hpp"
#include "crm/yaml_source.hpp"

namespace crm::planner {
namespace {

enum class RuleUnit { kBytes, kNumber };

struct RuleField {
  std::string_view key;
  Rule Rules::*member;
  RuleUnit unit;
  double min;
  double max;
};

// The rules of rules.yaml with their units and sane ranges: a rule outside its range is a typo.
const std::vector<RuleField>& RuleFields() {
  static const std::vector<RuleField> fields = {
      {"ram_per_websocket", &Rules::ram_per_websocket, RuleUnit::kBytes, 0, 1e9},
      {"bytes_per_task", &Rules::bytes_per_task, RuleUnit::kBytes, 0, 1e9},
      {"disk_per_message", &Rules::disk_per_message, RuleUnit::kBytes, 0, 1e9},
      {"buffer_per_customer", &Rules::buffer_per_customer, RuleUnit::kBytes, 0, 1e11},
      {"shared_services_single_host", &Rules::shared_services_single_host, RuleUnit::kBytes, 0,
       1e13},
      {"shared_services_max_fraction", &Rules::shared_services_max_fraction, RuleUnit::kNumber,
       0.05, 1},
      {"cpu_per_message", &Rules::cpu_per_message, RuleUnit::kNumber, 0, 10},
      {"disk_headroom", &Rules::disk_headroom, RuleUnit::kNumber, 0, 10},
      {"target_utilization", &Rules::target_utilization, RuleUnit::kNumber, 0.05, 1},
      {"green_below", &Rules::green_below, RuleUnit::kNumber, 0, 1},
      {"queue_max_depth", &Rules::queue_max_depth, RuleUnit::kNumber, 1, 1e10},
      {"phone_rate", &Rules::phone_rate, RuleUnit::kNumber, 0.001, 1e6},
      {"statement_timeout_s", &Rules::statement_timeout_s, RuleUnit::kNumber, 1, 86400},
      {"send_latency_s", &Rules::send_latency_s, RuleUnit::kNumber, 0, 600},
      {"db_connections_per_worker", &Rules::db_connections_per_worker, RuleUnit::kNumber, 0, 10},
      {"slice_memory_headroom", &Rules::slice_memory_headroom, RuleUnit::kNumber, 1, 100},
      {"slice_storage_quota", &Rules::slice_storage_quota, RuleUnit::kBytes, 0, 1e15},
      {"pg_reserved_connections", &Rules::pg_reserved_connections, RuleUnit::kNumber, 3, 10000},
      {"idle_share", &Rules::idle_share, RuleUnit::kNumber, 0, 1},
      {"swapin_alert_pages_per_s", &Rules::swapin_alert_pages_per_s, RuleUnit::kNumber, 1, 1e8},
      {"trigger_db_off_app_host", &Rules::trigger_db_off_app_host, RuleUnit::kBytes, 1, 1e15},
      {"trigger_db_dedicated", &Rules::trigger_db_dedicated, RuleUnit::kBytes, 1, 1e15},
      {"trigger_cpu", &Rules::trigger_cpu, RuleUnit::kNumber, 0.05, 1},
      {"trigger_memory", &Rules::trigger_memory, RuleUnit::kNumber, 0.05, 1},
      {"trigger_p95_latency_s", &Rules::trigger_p95_latency_s, RuleUnit::kNumber, 0.001, 600},
      {"max_slices_per_host", &Rules::max_slices_per_host, RuleUnit::kNumber, 0, 1e6},
      {"backup_usd_month", &Rules::backup_usd_month, RuleUnit::kNumber, 0, 1e6},
      {"egress_per_message", &Rules::egress_per_message, RuleUnit::kBytes, 0, 1e9},
      {"media_egress_per_message", &Rules::media_egress_per_message, RuleUnit::kBytes, 0, 1e9},
      {"db_pool_small_server", &Rules::db_pool_small_server, RuleUnit::kNumber, 1, 10000},
      {"db_pool_large_server", &Rules::db_pool_large_server, RuleUnit::kNumber, 1, 10000},
      {"db_pool_small_server_ram", &Rules::db_pool_small_server_ram, RuleUnit::kBytes, 1e6, 1e14},
  };
  return fields;
}

Rule ParseRule(const std::string& file, const YAML::Node& node, std::string_view key, RuleUnit unit,
               double min, double max) {
  StrictMap map(file, node, std::string(key));
  Rule rule;
  const YAML::Node value = map.Required("value");
  rule.value =
      unit == RuleUnit::kBytes ? ScalarBytes(file, value, key) : ScalarNumber(file, value, key);
  if (rule.value < min || rule.value > max) {
    FailAt(file, value,
           fmt::format("{}: {} is outside the sane range {} to {}", key, value.Scalar(),
                       unit == RuleUnit::kBytes ? FormatBytes(min) : FormatNumber(min, 3),
                       unit == RuleUnit::kBytes ? FormatBytes(max) : FormatNumber(max, 3)));
  }
  rule.source = map.RequiredString("source");
  if (rule.source.empty()) {
    FailAt(file, map.node(), fmt::format("{}: source must say where the number comes from", key));
  }
  map.Finish();
  return rule;
}

void ParseRules(const std::string& file, const YAML::Node& root, Rules& rules, bool partial) {
  StrictMap map(file, root, "rules");
  for (const RuleField& f : RuleFields()) {
    YAML::Node n = partial ? map.Optional(f.key) : map.Required(f.key);
    if (n) {
      rules.*(f.member) = ParseRule(file, n, f.key, f.unit, f.min, f.max);
    }
  }
  if (partial) {
    map.Optional("engines");  // handled by the caller
  }
  map.Finish();
  if (rules.green_below.value > rules.target_utilization.value) {
    FailAt(file, root, "green_below must not exceed target_utilization");
  }
  if (rules.db_pool_large_server.value < rules.db_pool_small_server.value) {
    FailAt(file, root, "db_pool_large_server must not be below db_pool_small_server");
  }
}

void ParseEngineRules(const std::string& file, const YAML::Node& node, Engine& engine,
                      bool partial) {
  StrictMap m(file, node, "engine " + engine.name);
  if (!partial) {
    engine.description = m.RequiredString("description");
  }
  YAML::Node ram = partial ? m.Optional("ram_per_device") : m.Required("ram_per_device");
  if (ram) {
    engine.ram_per_device = ParseRule(file, ram, "ram_per_device", RuleUnit::kBytes, 0, 1e11);
  }
  YAML::Node cpu = partial ? m.Optional("cpu_per_device") : m.Required("cpu_per_device");
  if (cpu) {
    engine.cpu_per_device = ParseRule(file, cpu, "cpu_per_device", RuleUnit::kNumber, 0, 64);
  }
  // Optional: only engines whose idle pages can be pushed out carry it.
  if (YAML::Node idle = m.Optional("idle_resident")) {
    engine.idle_resident = ParseRule(file, idle, "idle_resident", RuleUnit::kBytes, 0, 1e11);
    engine.idle_swappable = true;
  }
  // Optional figures (Engine): replacements of rules for an engine measured as a whole, and what
  // only some engines have (session files, the source's slice limits).
  struct OptionalRule {
    const char* key;
    Rule Engine::*rule;
    bool Engine::*present;
    RuleUnit unit;
    double min, max;
  };
  static constexpr OptionalRule kOptional[] = {
      {"buffer_per_customer", &Engine::buffer_per_customer, &Engine::has_buffer_per_customer,
       RuleUnit::kBytes, 0, 1e10},
      {"idle_per_customer", &Engine::idle_per_customer, &Engine::has_idle_per_customer,
       RuleUnit::kBytes, 0, 1e10},
      {"disk_per_message", &Engine::disk_per_message, &Engine::has_disk_per_message,
       RuleUnit::kBytes, 1, 1e7},
      {"cpu_per_message", &Engine::cpu_per_message, &Engine::has_cpu_per_message, RuleUnit::kNumber,
       0, 10},
      {"connections_per_slice", &Engine::connections_per_slice, &Engine::has_connections_per_slice,
       RuleUnit::kNumber, 1, 100},
      {"base_ram", &Engine::base_ram, &Engine::has_base_ram, RuleUnit::kBytes, 0, 1e11},
      {"disk_per_device", &Engine::disk_per_device, &Engine::has_disk_per_device, RuleUnit::kBytes,
       0, 1e12},
      {"slice_memory_limit", &Engine::slice_memory_limit, &Engine::has_slice_memory_limit,
       RuleUnit::kBytes, 1e6, 1e12},
      {"slice_cpu_limit", &Engine::slice_cpu_limit, &Engine::has_slice_cpu_limit, RuleUnit::kNumber,
       0.01, 256},
  };
  for (const OptionalRule& o : kOptional) {
    if (YAML::Node n = m.Optional(o.key)) {
      engine.*o.rule = ParseRule(file, n, o.key, o.unit, o.min, o.max);
      engine.*o.present = true;
    }
  }
  m.Finish();
  if (engine.idle_swappable && engine.idle_resident.value > engine.ram_per_device.value) {
    FailAt(file, node, fmt::format("engine {}: idle_resident exceeds ram_per_device", engine.name));
  }
}

std::vector<Engine> ParseEngines(const std::string& file, const YAML::Node& root) {
  if (!root.IsMap() || root.size() == 0) {
    FailAt(file, root, "expected a mapping of engine names to their rules");
  }
  std::vector<Engine> engines;
  for (const auto& kv : root) {
    Engine e;
    e.name = ScalarString(file, kv.first, "engine name");
    ParseEngineRules(file, kv.second, e, false);
    engines.push_back(std::move(e));
  }
  return engines;
}

// The names the YAML files and the output use for each enum, in one table per enum.
template <typename E, std::size_t N>
using NameTable = std::pair<std::string_view, E>[N];

constexpr std::pair<std::string_view, ServerKind> kServerKinds[] = {
    {"vm", ServerKind::kVm},
    {"managed-postgres", ServerKind::kManagedPostgres},
    {"managed-k8s", ServerKind::kManagedK8s}};
constexpr std::pair<std::string_view, DiskType> kDiskTypes[] = {{"ssd", DiskType::kSsd},
                                                                {"nvme", DiskType::kNvme}};
constexpr std::pair<std::string_view, Topology> kTopologies[] = {{"single", Topology::kSingle},
                                                                 {"split", Topology::kSplit},
                                                                 {"ha", Topology::kHa},
                                                                 {"k8s", Topology::kK8s}};

template <typename E, std::size_t N>
E ParseName(const std::string& file, const YAML::Node& n, std::string_view field,
            const NameTable<E, N>& table) {
  const std::string s = ScalarString(file, n, field);
  std::string expected;
  for (const auto& [name, value] : table) {
    if (name == s) {
      return value;
    }
    expected += expected.empty() ? std::string(name) : ", " + std::string(name);
  }
  FailAt(file, n, fmt::format("{}: unknown '{}' (expected {})", field, s, expected));
}

template <typename E, std::size_t N>
std::string_view NameOf(E value, const NameTable<E, N>& table) {
  for (const auto& [name, v] : table) {
    if (v == value) {
      return name;
    }
  }
  return "?";
}

void ParseTransfers(const std::string& file, const YAML::Node& list,
                    std::vector<TransferPrice>& transfers) {
  if (!list.IsSequence()) {
    FailAt(file, list, "transfer: expected a list");
  }
  for (const auto& node : list) {
    StrictMap m(file, node, "transfer");
    TransferPrice t;
    t.provider = m.RequiredString("provider");
    t.unmetered = m.OptionalBool("unmetered", false);
    if (!t.unmetered) {
      t.included_bytes_per_server = m.RequiredBytes("included_per_server");
      t.usd_per_tb = m.RequiredNumber("usd_per_tb");
      if (t.usd_per_tb < 0) {
        FailAt(file, node, "usd_per_tb: must not be negative");
      }
    }
    t.source = m.RequiredString("source");
    m.Finish();
    for (const TransferPrice& other : transfers) {
      if (other.provider == t.provider) {
        FailAt(file, node, fmt::format("transfer: provider '{}' is listed twice", t.provider));
      }
    }
    transfers.push_back(std::move(t));
  }
}

void ParseProviders(const std::string& file, const YAML::Node& root, std::vector<Server>& servers,
                    std::vector<VolumePrice>& volumes, std::vector<TransferPrice>& transfers,
                    std::vector<std::string>& providers) {
  StrictMap top(file, root, "providers");
  const YAML::Node vols = top.Required("volume_prices");
  // Optional: a provider without terms charges nothing for transfer (a --catalog copy may omit it).
  const YAML::Node transfer = top.Optional("transfer");
  const YAML::Node list = top.Required("servers");
  top.Finish();
  if (transfer) {
    ParseTransfers(file, transfer, transfers);
  }
  if (!vols.IsSequence()) {
    FailAt(file, vols, "volume_prices: expected a list");
  }
  for (const auto& v : vols) {
    StrictMap m(file, v, "volume price");
    VolumePrice p;
    p.provider = m.RequiredString("provider");
    p.usd_per_gb_month = m.RequiredNumber("usd_per_gb_month");
    if (p.usd_per_gb_month < 0) {
      FailAt(file, v, "usd_per_gb_month: must not be negative");
    }
    p.source = m.RequiredString("source");
    m.Finish();
    volumes.push_back(std::move(p));
  }
  if (!list.IsSequence() || list.size() == 0) {
    FailAt(file, list, "servers: expected a non-empty list");
  }
  for (const auto& node : list) {
    StrictMap m(file, node, "server");
    Server s;
    s.name = m.RequiredString("name");
    const auto dash = s.name.find('-');
    if (dash == std::string::npos || dash == 0 || dash + 1 == s.name.size() ||
        std::any_of(s.name.begin(), s.name.end(),
                    [](char c) { return std::isupper(static_cast<unsigned char>(c)) != 0; })) {
      FailAt(file, node, fmt::format("name: '{}' must be <provider>-<plan> in lower case", s.name));
    }
    s.provider = s.name.substr(0, dash);
    s.plan = s.name.substr(dash + 1);
    s.kind = ParseName(file, m.Required("kind"), "kind", kServerKinds);
    s.vcpu = m.RequiredNumber("vcpu");
    s.ram_bytes = m.RequiredBytes("ram");
    s.disk_bytes = m.RequiredBytes("disk");
    s.swap_bytes = m.OptionalBytes("swap", 0);
    s.disk_type = ParseName(file, m.Required("disk_type"), "disk_type", kDiskTypes);
    s.monthly_usd = m.RequiredNumber("monthly_usd");
    s.source = m.RequiredString("source");
    m.Finish();
    if (s.vcpu < 0 || s.monthly_usd < 0) {
      FailAt(file, node, "vcpu and monthly_usd must not be negative");
    }
    if (s.kind == ServerKind::kVm && (s.vcpu <= 0 || s.ram_bytes <= 0)) {
      FailAt(file, node, fmt::format("{}: a vm needs vcpu and ram above zero", s.name));
    }
    for (const Server& other : servers) {
      if (other.name == s.name) {
        FailAt(file, node, fmt::format("name: '{}' is listed twice", s.name));
      }
    }
    const auto known = std::find(providers.begin(), providers.end(), s.provider);
    s.provider_id = static_cast<int>(known - providers.begin());
    if (known == providers.end()) {
      // Provider filters are bit sets (PlanOptions::providers).
      if (providers.size() == 64) {
        FailAt(file, node, "servers: at most 64 providers");
      }
      providers.push_back(s.provider);
    }
    if (s.kind != ServerKind::kManagedK8s) {
      const auto price = std::find_if(volumes.begin(), volumes.end(), [&](const VolumePrice& v) {
        return v.provider == s.provider;
      });
      if (price == volumes.end()) {
        FailAt(file, node,
               fmt::format("{}: no volume_prices entry for provider '{}' (needed when its disk is "
                           "too small)",
                           s.name, s.provider));
      }
      s.volume_usd_per_gb_month = price->usd_per_gb_month;
    }
    const auto terms =
        std::find_if(transfers.begin(), transfers.end(),
                     [&](const TransferPrice& t) { return t.provider == s.provider; });
    if (terms != transfers.end()) {
      s.transfer_unmetered = terms->unmetered;
      s.transfer_included_bytes = terms->included_bytes_per_server;
      s.transfer_usd_per_tb = terms->usd_per_tb;
    }
    servers.push_back(std::move(s));
  }
}

unsigned ParseCarries(const std::string& file, const YAML::Node& n) {
  if (!n.IsSequence()) {
    FailAt(file, n, "carries: expected a list such as [sessions, websockets]");
  }
  unsigned bits = 0;
  for (const auto& item : n) {
    const std::string s = ScalarString(file, item, "carries");
    if (s == "sessions") {
      bits |= kCarrySessions;
    } else if (s == "websockets") {
      bits |= kCarryWebsockets;
    } else if (s == "queue") {
      bits |= kCarryQueue;
    } else if (s == "buffers") {
      bits |= kCarryBuffers;
    } else if (s == "messages") {
      bits |= kCarryMessages;
    } else {
      FailAt(file, item,
             fmt::format("carries: unknown '{}' (expected sessions, websockets, queue, buffers, "
                         "messages)",
                         s));
    }
  }
  return bits;
}

Tier ParseTier(const std::string& file, const YAML::Node& root,
               const std::vector<Server>& servers) {
  StrictMap m(file, root, "tier");
  Tier t;
  t.file = file;
  t.id = static_cast<int>(m.RequiredCount("id"));
  t.name = m.RequiredString("name");
  t.summary = m.RequiredString("summary");
  t.topology = ParseName(file, m.Required("topology"), "topology", kTopologies);
  t.source = m.RequiredString("source");
  {
    StrictMap e(file, m.Required("envelope"), "envelope");
    t.min_customers = e.RequiredCount("min_customers");
    t.max_customers = e.RequiredCount("max_customers");
    t.max_messages_per_day = e.RequiredCount("max_messages_per_day");
    e.Finish();
    if (t.max_customers != 0 && t.max_customers < t.min_customers) {
      FailAt(file, e.node(), "max_customers is below min_customers");
    }
  }
  {
    StrictMap c(file, m.Required("published_cost_usd"), "published_cost_usd");
    t.published_min_usd = c.RequiredNumber("min");
    t.published_max_usd = c.RequiredNumber("max");
    if (YAML::Node note = c.Optional("note")) {
      t.published_note = ScalarString(file, note, "note");
    }
    c.Finish();
  }
  t.ha = m.OptionalBool("ha", false);
  t.multi_region = m.OptionalBool("multi_region", false);
  t.pgbouncer = m.OptionalBool("pgbouncer", false);
  t.managed_database = m.OptionalBool("managed_database", false);
  if (YAML::Node backups = m.Optional("backups")) {
    const std::string value = ScalarString(file, backups, "backups");
    if (value != "off-host" && value != "local") {
      FailAt(file, backups,
             fmt::format("backups: unknown '{}' (expected off-host or local)", value));
    }
    t.off_host_backups = value == "off-host";
  }
  if (YAML::Node floors = m.Optional("knob_floors")) {
    if (!floors.IsMap()) {
      FailAt(file, floors, "knob_floors: expected a mapping of knob names to numbers");
    }
    for (const auto& kv : floors) {
      const std::string name = ScalarString(file, kv.first, "knob name");
      t.knob_floors[name] = ScalarCount(file, kv.second, name);
    }
  }
  for (const auto& [name, field] :
       {std::pair{"WORKER_CONCURRENCY", &KnobFloors::worker_concurrency},
        std::pair{"DB_MAX_OPEN_CONNS", &KnobFloors::db_max_open_conns},
        std::pair{"SLICE_HOSTS", &KnobFloors::slice_hosts},
        std::pair{"GATEWAY_HPA_MIN", &KnobFloors::gateway_hpa_min},
        std::pair{"GATEWAY_HPA_MAX", &KnobFloors::gateway_hpa_max},
        std::pair{"POD_MEMORY_LIMIT", &KnobFloors::pod_memory_limit}}) {
    if (const auto it = t.knob_floors.find(std::string_view(name)); it != t.knob_floors.end()) {
      t.floors.*field = it->second;
    }
  }
  const YAML::Node roles = m.Required("roles");
  m.Finish();
  if (!roles.IsSequence() || roles.size() == 0) {
    FailAt(file, roles, "roles: expected a non-empty list");
  }
  for (const auto& node : roles) {
    StrictMap r(file, node, "role");
    RoleSpec spec;
    spec.role = r.RequiredString("role");
    spec.count = static_cast<int>(r.RequiredCount("count"));
    if (spec.count < 1 || spec.count > 1000) {
      FailAt(file, node, "count: expected 1 to 1000 hosts");
    }
    spec.server = r.RequiredString("server");
    if (YAML::Node ram = r.Optional("services_ram")) {
      spec.has_services_ram = true;
      spec.services_ram = ScalarBytes(file, ram, "services_ram");
    }
    spec.services_cpu = r.OptionalNumber("services_cpu", 0);
    spec.services_disk = r.OptionalBytes("services_disk", 0);
    spec.carries = ParseCarries(file, r.Required("carries"));
    spec.cpu_share = r.RequiredNumber("cpu_share");
    spec.scalable = r.OptionalBool("scalable", false);
    spec.split = r.OptionalBool("split", true);
    spec.replica = spec.role.find("replica") != std::string::npos;
    if (YAML::Node only_with = r.Optional("only_with")) {
      if (ScalarString(file, only_with, "only_with") != "replica" || !spec.replica) {
        FailAt(file, only_with,
               "only_with: expected replica, on a read replica role (its name says replica)");
      }
      spec.only_with_replica = true;
    }
    if (YAML::Node like = r.Optional("sized_like")) {
      const std::string name = ScalarString(file, like, "sized_like");
      const auto earlier = std::find_if(t.roles.begin(), t.roles.end(),
                                        [&](const RoleSpec& other) { return other.role == name; });
      if (earlier == t.roles.end()) {
        FailAt(file, like,
               fmt::format("sized_like: '{}' is not an earlier role of the tier", name));
      }
      spec.sized_like = true;
      spec.sized_like_index = static_cast<std::size_t>(earlier - t.roles.begin());
      spec.sized_like_role = name;
    }
    r.Finish();
    const auto it = std::find_if(servers.begin(), servers.end(),
                                 [&](const Server& s) { return s.name == spec.server; });
    if (it == servers.end()) {
      FailAt(
          file, node,
          fmt::format("server: unknown offering '{}' (see `crmctl tiers servers`)", spec.server));
    }
    spec.server_index = static_cast<std::size_t>(it - servers.begin());
    if (spec.cpu_share < 0 || spec.cpu_share > 1) {
      FailAt(file, node, "cpu_share: expected a fraction from 0 to 1");
    }
    if (!spec.has_services_ram && t.topology != Topology::kSingle) {
      if (it->kind == ServerKind::kVm) {
        FailAt(file, node, "services_ram: required on every role outside a single-host tier");
      }
      spec.has_services_ram = true;  // a managed offering runs none of our services
    }
    t.roles.push_back(std::move(spec));
  }
  double shares = 0;
  for (const RoleSpec& spec : t.roles) {
    // An opt-in role comes on top of the tier's layout: the shares add up without it.
    shares += spec.only_with_replica ? 0 : spec.cpu_share;
    t.has_replica = t.has_replica || spec.replica;
  }
  if (shares < 0.999 || shares > 1.001) {
    FailAt(
        file, roles,
        fmt::format("cpu_share of the roles adds up to {}, expected 1", FormatNumber(shares, 3)));
  }
  return t;
}

// The servers the catalog search may put on a role (docs/capacity-model.md, "Sizing a role").
std::vector<std::size_t> Candidates(const Tier& t, const RoleSpec& spec,
                                    const std::vector<Server>& servers) {
  const Server& ref = servers[spec.server_index];
  const bool only_messages = spec.carries == kCarryMessages && !spec.replica;
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < servers.size(); ++i) {
    const Server& s = servers[i];
    const bool kind_ok = s.kind == ref.kind || (t.managed_database && only_messages &&
                                                s.kind == ServerKind::kManagedPostgres);
    // A Kubernetes node pool and its control plane come from one cloud.
    const bool provider_ok = t.topology != Topology::kK8s || s.provider_id == ref.provider_id;
    if (kind_ok && provider_ok) {
      out.push_back(i);
    }
  }
  std::stable_sort(out.begin(), out.end(), [&](std::size_t a, std::size_t b) {
    if (servers[a].monthly_usd != servers[b].monthly_usd) {
      return servers[a].monthly_usd < servers[b].monthly_usd;
    }
    return servers[a].ram_bytes > servers[b].ram_bytes;
  });
  return out;
}

const CatalogFile& FindFile(const std::vector<CatalogFile>& files, std::string_view suffix) {
  for (const CatalogFile& f : files) {
    if (f.name.size() >= suffix.size() &&
        f.name.compare(f.name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      return f;
    }
  }
  throw InputError(fmt::format("catalog: missing file {}", suffix));
}

}  // namespace

Catalog Catalog::Parse(const std::vector<CatalogFile>& files) {
  Catalog c;
  {
    const CatalogFile& f = FindFile(files, "rules.yaml");
    ParseRules(f.name, ParseYaml(f.text, f.name), c.rules_, false);
  }
  {
    const CatalogFile& f = FindFile(files, "engines.yaml");
    c.engines_ = ParseEngines(f.name, ParseYaml(f.text, f.name));
  }
  {
    const CatalogFile& f = FindFile(files, "providers.yaml");
    ParseProviders(f.name, ParseYaml(f.text, f.name), c.servers_, c.volumes_, c.transfers_,
                   c.providers_);
  }
  for (int id = 1;; ++id) {
    const std::string suffix = fmt::format("tier{}.yaml", id);
    const auto it = std::find_if(files.begin(), files.end(), [&](const CatalogFile& f) {
      return f.name.size() >= suffix.size() &&
             f.name.compare(f.name.size() - suffix.size(), suffix.size(), suffix) == 0;
    });
    if (it == files.end()) {
      break;
    }
    const YAML::Node root = ParseYaml(it->text, it->name);
    Tier t = ParseTier(it->name, root, c.servers_);
    if (t.id != id) {
      FailAt(it->name, root, fmt::format("id: {} in a file named {}", t.id, suffix));
    }
    c.tiers_.push_back(std::move(t));
  }
  if (c.tiers_.empty()) {
    throw InputError("catalog: no tier1.yaml found");
  }
  for (const CatalogFile& f : files) {
    constexpr std::string_view kPricing = "pricing.yaml";
    if (f.name.size() >= kPricing.size() &&
        f.name.compare(f.name.size() - kPricing.size(), kPricing.size(), kPricing) == 0) {
      c.pricing_ = ParsePricing(f.text, f.name);
    }
  }
  for (Tier& t : c.tiers_) {
    for (RoleSpec& spec : t.roles) {
      spec.candidates = Candidates(t, spec, c.servers_);
    }
  }
  return c;
}

const Catalog& Catalog::Embedded() {
  static const Catalog catalog = Parse(EmbeddedCatalogFiles());
  return catalog;
}

Catalog Catalog::LoadDir(const std::filesystem::path& dir) {
  std::vector<std::string> texts;
  std::vector<std::string> names;
  std::vector<std::string> wanted = {"rules.yaml", "engines.yaml", "providers.yaml"};
  for (int id = 1; std::filesystem::exists(dir / fmt::format("tier{}.yaml", id)); ++id) {
    wanted.push_back(fmt::format("tier{}.yaml", id));
  }
  if (std::filesystem::exists(dir / "pricing.yaml")) {
    wanted.push_back("pricing.yaml");
  }
  for (const std::string& name : wanted) {
    const std::filesystem::path p = dir / name;
    std::ifstream in(p, std::ios::binary);
    if (!in) {
      throw InputError(fmt::format("{}: cannot read the catalog file", p.string()));
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    texts.push_back(ss.str());
    names.push_back(p.string());
  }
  std::vector<CatalogFile> files;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    files.push_back({names[i], texts[i]});
  }
  return Parse(files);
}

void Catalog::ApplyOverride(std::string_view text, const std::string& file) {
  const YAML::Node root = ParseYaml(text, file);
  if (!root || root.IsNull()) {
    throw InputError(fmt::format("{}: empty rules override", file));
  }
  ParseRules(file, root, rules_, true);
  if (const YAML::Node engines = root["engines"]) {
    if (!engines.IsMap()) {
      FailAt(file, engines, "engines: expected a mapping of engine names");
    }
    for (const auto& kv : engines) {
      const std::string name = ScalarString(file, kv.first, "engine name");
      auto it = std::find_if(engines_.begin(), engines_.end(),
                             [&](const Engine& e) { return e.name == name; });
      if (it == engines_.end()) {
        FailAt(
            file, kv.first,
            fmt::format("engines: unknown engine '{}' (expected one of: {})", name, EngineNames()));
      }
      ParseEngineRules(file, kv.second, *it, true);
    }
  }
}

const Engine* Catalog::FindEngine(std::string_view name) const {
  for (const Engine& e : engines_) {
    if (e.name == name) {
      return &e;
    }
  }
  return nullptr;
}

const Server* Catalog::FindServer(std::string_view name) const {
  for (const Server& s : servers_) {
    if (s.name == name) {
      return &s;
    }
  }
  return nullptr;
}

const Tier* Catalog::FindTier(int id) const {
  for (const Tier& t : tiers_) {
    if (t.id == id) {
      return &t;
    }
  }
  return nullptr;
}

std::uint64_t Catalog::ProviderMask(const std::vector<std::string>& names,
                                    std::string_view flag) const {
  std::uint64_t mask = 0;
  for (const std::string& name : names) {
    const auto it = std::find(providers_.begin(), providers_.end(), name);
    if (it == providers_.end()) {
      std::string known;
      for (const std::string& p : providers_) {
        known += known.empty() ? p : ", " + p;
      }
      throw InputError(
          fmt::format("{}: unknown provider '{}' (expected one of: {})", flag, name, known),
          std::string(flag));
    }
    mask |= std::uint64_t{1} << (it - providers_.begin());
  }
  return mask;
}

std::string Catalog::EngineNames() const {
  std::string names;
  for (const Engine& e : engines_) {
    names += names.empty() ? e.name : ", " + e.name;
  }
  return names;
}

std::string_view TopologyName(Topology t) {
  return NameOf(t, kTopologies);
}
std::string_view ServerKindName(ServerKind k) {
  return NameOf(k, kServerKinds);
}
std::string_view DiskTypeName(DiskType d) {
  return NameOf(d, kDiskTypes);
}

}  // namespace crm::planner
