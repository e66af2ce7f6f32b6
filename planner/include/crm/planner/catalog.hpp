// The tier catalog as data: per-unit rules, engines, server offerings and the five tiers.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "crm/planner/pricing.hpp"

namespace crm::planner {

/// One number of the model and where it comes from.
struct Rule {
  double value = 0;
  std::string source;
};

/// Per-unit rules (tiers/rules.yaml, docs/capacity-model.md "Rules"). Sizes are bytes; CPU in cores
/// or core-seconds.
struct Rules {
  Rule ram_per_websocket;             // bytes per open dashboard tab
  Rule bytes_per_task;                // bytes per pending broadcast task
  Rule disk_per_message;              // bytes per stored message
  Rule buffer_per_customer;           // bytes per customer
  Rule shared_services_single_host;   // bytes: OS + PostgreSQL + gateway + nginx on one host
  Rule shared_services_max_fraction;  // of a single host's RAM: services shrink on small hosts
  Rule cpu_per_message;               // core-seconds per message
  Rule disk_headroom;                 // fraction added to message storage
  Rule target_utilization;            // 0..1
  Rule green_below;                   // 0..1
  Rule queue_max_depth;               // tasks
  Rule phone_rate;                    // messages/s per phone
  Rule statement_timeout_s;           // seconds
  Rule send_latency_s;                // seconds a send holds a worker
  Rule db_connections_per_worker;     // ratio
  Rule slice_memory_headroom;         // factor
  Rule slice_storage_quota;           // bytes
  Rule pg_reserved_connections;       // connections
  Rule idle_share;                    // 0..1: slices idle at once (--swap, docs/capacity-model.md)
  Rule swapin_alert_pages_per_s;      // pages/s: the swap-in rate the monitor alerts above
  Rule trigger_db_off_app_host;       // bytes: move the database off the app host above this
  Rule trigger_db_dedicated;          // bytes: give the database its own server above this
  Rule trigger_cpu;                   // 0..1 of a host's cores
  Rule trigger_memory;                // 0..1 of a host's RAM
  Rule trigger_p95_latency_s;
  Rule max_slices_per_host;  // tenants one host's slices may hold; 0 = no cap (sized by resources)
  Rule backup_usd_month;     // USD per deployment that backs up off the host
  Rule egress_per_message;   // bytes leaving the servers per message (text, dashboard push)
  Rule media_egress_per_message;  // bytes of media per message, averaged over all messages
  Rule db_pool_small_server;      // connections: DB_MAX_OPEN_CONNS on a single small host
  Rule db_pool_large_server;      // connections: its ceiling on larger single hosts
  Rule db_pool_small_server_ram;  // bytes: RAM up to which a single host counts as small
};

struct Engine {
  std::string name;
  std::string description;
  Rule ram_per_device;  // bytes
  Rule cpu_per_device;  // cores
  /// Whether an idle device's pages can be pushed out to swap (cgroup v2 memory.reclaim), and
  /// what stays resident then (bytes); both from `idle_resident` in engines.yaml.
  bool idle_swappable = false;
  Rule idle_resident;
  /// Session files on disk per device (browser profiles, auth state); 0 when none worth counting.
  bool has_disk_per_device = false;
  Rule disk_per_device;
  /// A slice's limits per device where the source states them (absent: the memory limit is
  /// computed from the footprint, the CPU is not limited).
  bool has_slice_memory_limit = false;
  Rule slice_memory_limit;
  bool has_slice_cpu_limit = false;
  Rule slice_cpu_limit;
  /// Optional per-engine replacements of rules, for an engine measured as a whole (`crmd`,
  /// docs/capacity-model.md "The crmd engine"); has_* false means the rule of rules.yaml applies.
  /// buffer_per_customer: bytes per tenant beside its devices; disk_per_message: bytes per stored
  /// message; cpu_per_message: core-seconds one message costs end to end; connections_per_slice:
  /// database connections each slice process opens.
  bool has_buffer_per_customer = false;
  Rule buffer_per_customer;
  /// A tenant that has been idle a minute (its slice closed its database connections): with
  /// `--swap`, the idle share of tenants counts at this instead of buffer_per_customer.
  bool has_idle_per_customer = false;
  Rule idle_per_customer;
  bool has_disk_per_message = false;
  Rule disk_per_message;
  bool has_cpu_per_message = false;
  Rule cpu_per_message;
  bool has_connections_per_slice = false;
  Rule connections_per_slice;
  /// The runtime's own RAM on one server with no tenant (gateway, PostgreSQL's base, the warm
  /// slice): part of the shared-services reservation, not added to it; reported apart
  /// (demand.ram_bytes.engine_base) so a measurement of the runtime can be set against the plan.
  bool has_base_ram = false;
  Rule base_ram;
};

/// The engine's value where it carries one, else the rule's.
inline double BufferPerCustomer(const Engine& e, const Rules& r) {
  return e.has_buffer_per_customer ? e.buffer_per_customer.value : r.buffer_per_customer.value;
}
inline double DiskPerMessage(const Engine& e, const Rules& r) {
  return e.has_disk_per_message ? e.disk_per_message.value : r.disk_per_message.value;
}
inline double CpuPerMessage(const Engine& e, const Rules& r) {
  return e.has_cpu_per_message ? e.cpu_per_message.value : r.cpu_per_message.value;
}

enum class ServerKind { kVm, kManagedPostgres, kManagedK8s };
enum class DiskType { kSsd, kNvme };

struct Server {
  std::string name;      // "<provider>-<plan>", e.g. "ovh-vps-5"
  std::string provider;  // the part before the first '-'
  std::string plan;      // the rest
  int provider_id = 0;   // dense index into Catalog::providers() (bit in a provider mask)
  ServerKind kind = ServerKind::kVm;
  double vcpu = 0;
  double ram_bytes = 0;
  double disk_bytes = 0;
  double swap_bytes = 0;  // 0: no swap (only --swap counts it)
  DiskType disk_type = DiskType::kSsd;
  double monthly_usd = 0;
  double volume_usd_per_gb_month = 0;  // extra disk at this provider (from volume_prices)
  // Outbound transfer at this provider (providers.yaml `transfer`): included per server per
  // month, and the price beyond it; unmetered providers never charge (docs/capacity-model.md,
  // "Cost lines").
  double transfer_included_bytes = 0;
  double transfer_usd_per_tb = 0;
  bool transfer_unmetered = false;
  std::string source;
};

struct VolumePrice {
  std::string provider;
  double usd_per_gb_month = 0;
  std::string source;
};

/// A provider's outbound transfer terms (providers.yaml `transfer`).
struct TransferPrice {
  std::string provider;
  bool unmetered = false;
  double included_bytes_per_server = 0;  // per server per month
  double usd_per_tb = 0;                 // beyond what is included
  std::string source;
};

enum class Topology { kSingle, kSplit, kHa, kK8s };

/// The knob floors the planner reads (a tier's `knob_floors`, or the planner's default where the
/// tier names none), resolved once when the catalog is parsed: batch reads several per row.
struct KnobFloors {
  long long worker_concurrency = 20;
  long long db_max_open_conns = 25;
  long long slice_hosts = 2;
  long long gateway_hpa_min = 2;
  long long gateway_hpa_max = 10;
  long long pod_memory_limit = 4LL << 30;  // bytes
};

/// What a role's hosts carry of the demand.
enum Carry : unsigned {
  kCarrySessions = 1u << 0,
  kCarryWebsockets = 1u << 1,
  kCarryQueue = 1u << 2,
  kCarryBuffers = 1u << 3,
  kCarryMessages = 1u << 4,
};

struct RoleSpec {
  std::string role;
  int count = 1;
  std::string server;            // reference offering (the minimum size)
  std::size_t server_index = 0;  // its position in Catalog::servers()
  bool has_services_ram = false;
  double services_ram = 0;   // bytes per host; absent on single hosts = the shared-services rule
  double services_cpu = 0;   // cores per host
  double services_disk = 0;  // bytes per host
  unsigned carries = 0;      // Carry bits
  double cpu_share = 0;      // share of the message-processing CPU
  bool scalable = false;     // the planner may add hosts to this role
  bool split = true;         // demand is divided across the hosts (false: each holds a copy)
  bool replica = false;      // a read replica (role name contains "replica")
  /// Only in layouts of workloads with `replica` (tier 3's optional read replica).
  bool only_with_replica = false;
  /// Sized like an earlier role of the tier (`sized_like:`): the same server, count and volume,
  /// as a replica that must take over from its primary (index into Tier::roles).
  bool sized_like = false;
  std::size_t sized_like_index = 0;
  std::string sized_like_role;  // that role's name (what the outputs say: "as postgres")
  /// Indices into Catalog::servers() the catalog search may put on this role, cheapest first
  /// (ties: more RAM first): the reference's kind, plus managed PostgreSQL where the tier allows
  /// it; on a Kubernetes tier only the reference's provider.
  std::vector<std::size_t> candidates;
};

struct Tier {
  int id = 0;
  std::string name;
  std::string summary;
  Topology topology = Topology::kSingle;
  std::string source;
  long long min_customers = 0;
  long long max_customers = 0;         // 0 = unbounded
  long long max_messages_per_day = 0;  // 0 = unbounded
  double published_min_usd = 0;
  double published_max_usd = 0;
  /// Why the planned cost may come in below the published range (what it prices that the catalog
  /// does not); shown as a warning when it does.
  std::string published_note;
  bool ha = false;
  bool multi_region = false;
  bool pgbouncer = false;  // clients reach PostgreSQL through PgBouncer (transaction pooling)
  bool managed_database = false;  // a role that only holds messages may be managed PostgreSQL
  bool has_replica = false;       // some role is a read replica (always, or with `replica`)
  /// Whether the tier's price includes off-host backups by default (`backups: off-host`);
  /// the workload key `backups` overrides it (docs/capacity-model.md, "Cost lines").
  bool off_host_backups = false;
  std::map<std::string, long long, std::less<>> knob_floors;  // as written (tiers show them)
  KnobFloors floors;  // the ones the planner uses, from knob_floors
  std::vector<RoleSpec> roles;
  std::string file;  // where it was read from, for messages
};

/// One catalog file: its name (as shown in messages) and text.
struct CatalogFile {
  std::string name;
  std::string_view text;
};

/// The catalog compiled into the binary from tiers/.
const std::vector<CatalogFile>& EmbeddedCatalogFiles();

class Catalog {
 public:
  /// Parses rules.yaml, engines.yaml, providers.yaml, tier*.yaml and pricing.yaml (optional).
  /// Cross-checks references (a role's server exists, tiers ascend). Throws InputError with
  /// file:line:col.
  static Catalog Parse(const std::vector<CatalogFile>& files);
  /// The embedded catalog.
  static const Catalog& Embedded();
  /// Reads the same files from a directory (for `--catalog DIR`).
  static Catalog LoadDir(const std::filesystem::path& dir);

  /// Applies a rules override (the format `crmctl calibrate --write` produces): any rule of
  /// rules.yaml, and `engines: {NAME: {ram_per_device, cpu_per_device}}`. Throws InputError.
  void ApplyOverride(std::string_view text, const std::string& file);

  const Rules& rules() const { return rules_; }
  const std::vector<Engine>& engines() const { return engines_; }
  const std::vector<Server>& servers() const { return servers_; }
  const std::vector<VolumePrice>& volume_prices() const { return volumes_; }
  const std::vector<TransferPrice>& transfer_prices() const { return transfers_; }
  const std::vector<Tier>& tiers() const { return tiers_; }
  /// The price plans and coupons of pricing.yaml (empty when the catalog has none).
  const Pricing& pricing() const { return pricing_; }
  /// Provider names in catalog order; Server::provider_id indexes this.
  const std::vector<std::string>& providers() const { return providers_; }

  /// A bit set of provider_id for `names` (empty: 0). Throws InputError naming `flag` and the
  /// known providers for an unknown name.
  std::uint64_t ProviderMask(const std::vector<std::string>& names, std::string_view flag) const;

  /// nullptr when unknown.
  const Engine* FindEngine(std::string_view name) const;
  const Server* FindServer(std::string_view name) const;
  const Tier* FindTier(int id) const;
  /// "whatsmeow, noweb, webjs, cloud-api, crmd"
  std::string EngineNames() const;

 private:
  Rules rules_;
  std::vector<Engine> engines_;
  std::vector<Server> servers_;
  std::vector<VolumePrice> volumes_;
  std::vector<TransferPrice> transfers_;
  std::vector<Tier> tiers_;
  std::vector<std::string> providers_;
  Pricing pricing_;
};

std::string_view TopologyName(Topology t);
std::string_view ServerKindName(ServerKind k);
std::string_view DiskTypeName(DiskType d);

}  // namespace crm::planner
