#include "crm/planner/plan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "crm/error.hpp"
#include "crm/hash_range.hpp"
#include "crm/planner/capacity.hpp"
#include "crm/units.hpp"

namespace crm::planner {
namespace {

constexpr double kSecondsPerDay = 86'400;
constexpr double kVolumeStep = 10e9;  // extra disk is bought in 10 GB steps
constexpr int kMaxHostsPerRole = 1000;
constexpr int kUpgradeScanMonths = 120;
// Meta's messaging limits: unique users a business number may start conversations with per 24 h.
constexpr long long kMetaTiers[] = {250, 2'000, 10'000, 100'000};

// Demand that grows with customers (per customer) and demand that does not (fixed), so a host's
// load is fixed + slope × customers and the inverse questions (capacity, months until upgrade)
// have closed forms.
struct Unit {
  double sessions_ram = 0;    // per customer
  double websockets_ram = 0;  // per customer
  double buffers_ram = 0;     // per customer
  double queue_ram = 0;       // fixed
  double messages_disk = 0;   // per customer, raw
  double stored_disk = 0;     // per customer, with headroom
  double message_cpu = 0;     // per customer, cores at peak
  double device_cpu = 0;      // per customer, cores
  double swapped_ram = 0;     // per customer: of sessions_ram, what idle slices push to swap
  double sessions_disk = 0;   // per customer: the engine's session files
};

Unit UnitDemand(const Workload& w, const Engine& e, const Catalog& c) {
  const Rules& r = c.rules();
  Unit u;
  const auto devices = static_cast<double>(w.devices_per_customer);
  const auto msgs = static_cast<double>(w.messages_per_customer_day);
  u.sessions_ram = devices * e.ram_per_device.value;
  u.sessions_disk = devices * e.disk_per_device.value;
  u.websockets_ram = static_cast<double>(w.dashboard_tabs_per_customer) * r.ram_per_websocket.value;
  u.buffers_ram = BufferPerCustomer(e, r);
  u.queue_ram = static_cast<double>(w.peak_pending_tasks) * r.bytes_per_task.value;
  u.messages_disk = msgs * static_cast<double>(w.retention_days) * DiskPerMessage(e, r);
  u.stored_disk = u.messages_disk * (1 + r.disk_headroom.value);
  u.message_cpu = msgs / kSecondsPerDay * w.peak_factor * CpuPerMessage(e, r);
  u.device_cpu = devices * e.cpu_per_device.value;
  if (w.swap && e.has_idle_per_customer) {
    // An idle tenant's slice frees its database connections (docs/capacity-model.md, "The crmd
    // engine"): nothing goes to swap, the idle share simply costs less.
    const double idle_share = w.idle_share.value_or(r.idle_share.value);
    u.buffers_ram = idle_share * e.idle_per_customer.value + (1 - idle_share) * u.buffers_ram;
  }
  if (w.swap && e.idle_swappable) {
    // docs/capacity-model.md "Swap": idle slices keep only their idle resident size in RAM.
    const double idle_share = w.idle_share.value_or(r.idle_share.value);
    u.swapped_ram = devices * idle_share * (e.ram_per_device.value - e.idle_resident.value);
  }
  return u;
}

struct Linear {
  double fixed = 0;
  double slope = 0;  // per customer
  double At(double customers) const { return fixed + slope * customers; }
};

// `ram` counts sessions at their full size; `swap` is the part of it idle slices may push out
// (--swap), which only a server with swap can take.
struct HostLoad {
  Linear ram, disk, cpu, swap;
};

// docs/capacity-model.md "Swap": on a server with swap a host fits when both (1) RAM holds
// everything but the idle slices' pushable pages and (2) RAM and swap together hold the whole
// footprint, each at the target. Pages go to swap only as far as RAM at the target needs (what
// SwappedOut computes), so --swap never sizes a host below what it holds without swap.
double SwapSlope(const HostLoad& load, const Server& s) {
  return s.swap_bytes > 0 ? load.swap.slope : 0;
}

// (1): RAM with every pushable page out.
double RamSlope(const HostLoad& load, const Server& s) {
  return load.ram.slope - SwapSlope(load, s);
}

// What must sit in swap for RAM to stay at the target, at most what idle slices can push out.
double SwappedOut(const HostLoad& load, const Server& s, double customers, double target) {
  const double pushable = SwapSlope(load, s) * customers;
  if (pushable <= 0) {
    return 0;
  }
  return std::clamp(load.ram.At(customers) - target * s.ram_bytes, 0.0, pushable);
}

// On a single host the services shrink with a small server (PostgreSQL's buffers are a quarter
// of its RAM): min(2 GB, 0.60 × RAM) by the rules.
double ServicesRam(const RoleSpec& spec, const Server& s, const Catalog& c) {
  if (spec.has_services_ram) {
    return spec.services_ram;
  }
  const Rules& r = c.rules();
  return std::min(r.shared_services_single_host.value,
                  r.shared_services_max_fraction.value * s.ram_bytes);
}

// The part of one host's load that does not depend on the server: everything but the services'
// RAM (ram.fixed holds only the queue's share). The catalog search computes it once per role and
// host count, not once per candidate server.
HostLoad RoleLoad(const RoleSpec& spec, int hosts, int regions, const Unit& u) {
  const double divisor = (spec.split ? hosts : 1) * static_cast<double>(regions);
  // x / 1 is x exactly: most roles sit on one host (or hold a whole copy) in one region, and the
  // search computes this load for every role of every tier it sizes.
  const bool whole = divisor == 1;
  const auto share = [whole, divisor](double v) { return whole ? v : v / divisor; };
  HostLoad load;
  load.disk.fixed = spec.services_disk;
  load.cpu.fixed = spec.services_cpu;
  if (spec.carries & kCarrySessions) {
    load.ram.slope += share(u.sessions_ram);
    load.swap.slope += share(u.swapped_ram);
    load.cpu.slope += share(u.device_cpu);
    load.disk.slope += share(u.sessions_disk);
  }
  if (spec.carries & kCarryWebsockets) {
    load.ram.slope += share(u.websockets_ram);
  }
  if (spec.carries & kCarryBuffers) {
    load.ram.slope += share(u.buffers_ram);
  }
  if (spec.carries & kCarryQueue) {
    load.ram.fixed = share(u.queue_ram);
  }
  if (spec.carries & kCarryMessages) {
    load.disk.slope += share(u.stored_disk);
  }
  load.cpu.slope += share(spec.cpu_share * u.message_cpu);
  return load;
}

// The load on one host `s` of `spec` when `hosts` hosts share the role and customers are spread
// evenly over `regions` regions. `regions` also divides the fixed queue backlog.
HostLoad LoadPerHost(const RoleSpec& spec, const Server& s, int hosts, int regions, const Unit& u,
                     const Catalog& c) {
  HostLoad load = RoleLoad(spec, hosts, regions, u);
  load.ram.fixed = ServicesRam(spec, s, c) + load.ram.fixed;
  load.swap.slope = SwapSlope(load, s);
  return load;
}

double Ratio(double demand, double capacity) {
  if (demand <= 0) {
    return 0;
  }
  return capacity > 0 ? demand / capacity : std::numeric_limits<double>::infinity();
}

// Extra block storage needed so that disk stays at or under the target.
double VolumeFor(double disk_demand, const Server& s, double target) {
  // Clearly inside the server's own disk (a margin of 10^-6 beside rounding errors of 10^-16):
  // no volume, known without the two divisions below.
  if (disk_demand <= 0.999999 * target * s.disk_bytes) {
    return 0;
  }
  const double needed = disk_demand / target - s.disk_bytes;
  if (needed <= 0) {
    return 0;
  }
  return std::ceil(needed / kVolumeStep) * kVolumeStep;
}

// The published layout sizes up only within the reference's provider and kind, from the reference
// up: what `render --tier N` promises. A bigger offering listed cheaper than the reference (an
// estimate beside a price from the source) does not replace it: the published price stands.
bool AtLeastReference(const Server& s, const Server& ref) {
  return s.kind == ref.kind && s.provider_id == ref.provider_id && s.vcpu >= ref.vcpu &&
         s.ram_bytes >= ref.ram_bytes && s.monthly_usd >= ref.monthly_usd &&
         (ref.disk_type != DiskType::kNvme || s.disk_type == DiskType::kNvme);
}

// No default member initialisers: the search prices every candidate into storage it does not
// clear first (Evaluate sets every field); `RoleChoice{}` is the empty choice (no server).
struct RoleChoice {
  const Server* server;
  int count;
  double volume;
  double cost;
  // The highest utilisation of ram/cpu/disk. Only a choice that may not fit is ranked by it, so
  // a choice that clearly fits (`fits` without `worst` asked for) leaves it at 0.
  double worst;
  bool fits;  // worst at or under the target (+ 10^-12)
  bool preferred;
};

// Whether Ratio(demand, capacity) is at or under `target` + 10^-12, known without dividing when
// demand ≤ target × capacity as rounded: the quotient is then within a few units in the last
// place of `target`. False only means "divide to know".
bool ClearlyUnder(double demand, double capacity, double target) {
  return demand <= target * capacity;
}

// Server `s` on `count` hosts per region, given the role's server-independent load at that count
// (RoleLoad), the services' RAM on `s` and the slice cap's share (see ChooseRole). `ranked`: the
// exact `worst` even when the choice fits. Written into `choice` field by field, where the search
// keeps it: a choice built elsewhere and copied whole was read back before its stores had landed
// (a store-to-load forwarding stall per candidate).
[[gnu::always_inline]] inline void Evaluate(const HostLoad& base, double services_ram,
                                            const Server& s, int count, int regions,
                                            double customers, double target, double slice_share,
                                            bool ranked, RoleChoice& choice) {
  choice.server = &s;
  choice.count = count;
  const double disk = base.disk.At(customers);
  choice.volume = s.kind == ServerKind::kManagedK8s ? 0 : VolumeFor(disk, s, target);
  const double volume_price =
      choice.volume > 0 ? s.volume_usd_per_gb_month * choice.volume / 1e9 : 0;
  choice.cost = count * regions * (s.monthly_usd + volume_price);
  const double ram_fixed = services_ram + base.ram.fixed;
  const double ram = ram_fixed + RamSlope(base, s) * customers;
  const double cpu = base.cpu.At(customers);
  const double disk_capacity = s.disk_bytes + choice.volume;
  const bool swap = SwapSlope(base, s) > 0;
  // Most candidates the search prices fit with room to spare: the divisions are for the others.
  if (!ranked && slice_share <= target && ClearlyUnder(ram, s.ram_bytes, target) &&
      ClearlyUnder(cpu, s.vcpu, target) && ClearlyUnder(disk, disk_capacity, target) &&
      (!swap ||
       ClearlyUnder(ram_fixed + base.ram.slope * customers, s.ram_bytes + s.swap_bytes, target))) {
    choice.worst = 0;
    choice.fits = true;
    choice.preferred = false;
    return;
  }
  choice.worst =
      std::max({Ratio(ram, s.ram_bytes), Ratio(cpu, s.vcpu), Ratio(disk, disk_capacity)});
  if (swap) {
    choice.worst = std::max(
        choice.worst, Ratio(ram_fixed + base.ram.slope * customers, s.ram_bytes + s.swap_bytes));
  }
  choice.worst = std::max(choice.worst, slice_share);
  choice.fits = choice.worst <= target + 1e-12;
  choice.preferred = false;
}

// Which servers a plan may use, resolved once per plan.
struct SearchScope {
  bool reference = false;
  std::uint64_t allowed = ~std::uint64_t{0};  // provider bits
  std::uint64_t preferred = 0;
  bool Allows(const Server& s, const Server& ref) const {
    return ((allowed >> s.provider_id) & 1u) != 0 && (!reference || AtLeastReference(s, ref));
  }
};

// a before b: cheaper, then fewer hosts.
bool Cheaper(const RoleChoice& a, const RoleChoice& b) {
  if (a.cost < b.cost - 1e-9) {
    return true;
  }
  return a.cost <= b.cost + 1e-9 && a.count < b.count;
}

struct RoleResult {
  RoleChoice best{};       // fits, or the least bad when nothing does
  RoleChoice runner_up{};  // server == nullptr: no other offering fits
  bool any = false;        // some allowed offering exists for the role
  bool placeable = false;  // some allowed offering can be sized at all (then `best` is set,
                           // unless only fits were looked for and none fits)
};

// The cheapest way to host one role: every allowed candidate server (cheapest first), at the
// tier's count, or for scalable roles with as many hosts as RAM and CPU need. Batch runs this for
// every role of every tier of every row, so the server-independent load is computed once per host
// count and each candidate costs a handful of multiplications. With `fits_only` the least bad
// choice is not kept and a candidate whose RAM or CPU alone is over the target is dismissed before
// it is priced: `best` is then unset when nothing fits. `best_load` receives RoleLoad at the
// best's count when there is a best.
RoleResult ChooseRole(const RoleSpec& spec, int regions, const Unit& u, double customers,
                      const Catalog& c, const SearchScope& scope, bool fits_only,
                      HostLoad& best_load) {
  const double target = c.rules().target_utilization.value;
  const Server& ref = c.servers()[spec.server_index];
  const std::vector<Server>& servers = c.servers();
  RoleResult result;
  // The cheapest and the next cheapest that fit, in three slots passed around by pointer: each
  // candidate is priced into the slot that holds neither (left uncleared: Evaluate fills it).
  std::array<RoleChoice, 3> slots;
  const RoleChoice* first = nullptr;
  const RoleChoice* second = nullptr;
  RoleChoice preferred{};  // the cheapest of a preferred provider that fits
  RoleChoice least_bad{};
  // The load at the tier's count, and (scalable roles) at one host and at the last count needed.
  const HostLoad at_count = RoleLoad(spec, spec.count, regions, u);
  // The slice cap (rule max_slices_per_host): a count of tenants per host, so reaching it counts
  // as reaching the target; a scalable role adds hosts for it like for RAM.
  const double cap = (spec.carries & kCarrySessions) ? c.rules().max_slices_per_host.value : 0;
  const double tenants_per_region = customers / static_cast<double>(regions);
  // The slice cap's share of a host at `count` hosts. When the hosts clearly hold their tenants
  // under the cap it is reported as 0: it then decides nothing (a choice fits exactly when its
  // other ratios do, and a choice that does not fit is ranked by those) and costs no division.
  auto cap_share = [&](int count) {
    if (cap <= 0 || (spec.split ? tenants_per_region <= count * cap : tenants_per_region <= cap)) {
      return 0.0;
    }
    const double per_host = spec.split ? tenants_per_region / count : tenants_per_region;
    return target * per_host / cap;
  };
  // At one host the load is the tier count's when that count is 1 or each host holds a copy.
  HostLoad one;
  if (spec.scalable) {
    one = spec.count == 1 || !spec.split ? at_count : RoleLoad(spec, 1, regions, u);
  }
  int scaled_count = 0;
  HostLoad at_scaled;
  for (const std::size_t index : spec.candidates) {
    const Server& s = servers[index];
    if (!scope.Allows(s, ref)) {
      continue;
    }
    result.any = true;
    // Candidates are sorted by price and a choice costs at least count × price: once that exceeds
    // the runner-up, nothing later can place (a preferred provider may still, so keep looking).
    if (second != nullptr && scope.preferred == 0 &&
        spec.count * regions * s.monthly_usd > second->cost + 1e-9) {
      break;
    }
    const double services = ServicesRam(spec, s, c);
    int count = spec.count;
    const HostLoad* base = &at_count;
    if (spec.scalable) {
      // Smallest host count at which ram and cpu fit (disk is solved by volumes):
      // fixed + slope·customers / n ≤ target·capacity.
      double need = count;
      const double ram_room = target * s.ram_bytes - (services + one.ram.fixed);
      const double cpu_room = target * s.vcpu - one.cpu.fixed;
      if (ram_room <= 0 || cpu_room <= 0) {
        continue;
      }
      result.placeable = true;
      // need = max(need, ⌈demand / room − 10^-9⌉). When demand ≤ need × room as rounded, the
      // quotient is need plus a few units in the last place (under 10^-9 while need ≤ 10^6),
      // so `need` stands and the division is skipped.
      const auto at_least = [&need](double demand, double room) {
        if (!(need <= 1e6 && demand <= need * room)) {
          need = std::max(need, std::ceil(demand / room - 1e-9));
        }
      };
      at_least(RamSlope(one, s) * customers, ram_room);
      at_least(one.cpu.slope * customers, cpu_room);
      if (cap > 0 && spec.split) {
        at_least(tenants_per_region, cap);
      }
      if (SwapSlope(one, s) > 0) {
        const double total_room =
            target * (s.ram_bytes + s.swap_bytes) - (services + one.ram.fixed);
        at_least(one.ram.slope * customers, total_room);
      }
      if (need > kMaxHostsPerRole) {
        if (fits_only) {
          continue;  // a capped count is only ever the least bad
        }
        const HostLoad capped_load = RoleLoad(spec, kMaxHostsPerRole, regions, u);
        RoleChoice capped;
        Evaluate(capped_load, services, s, kMaxHostsPerRole, regions, customers, target, 0, true,
                 capped);
        if (least_bad.server == nullptr || capped.worst < least_bad.worst) {
          least_bad = capped;
        }
        continue;
      }
      count = static_cast<int>(need);
      // The same bound as the break above, now that the count is known: a candidate that costs
      // more than the runner-up at its count cannot become either (it could only have been the
      // least bad, which is not used once two fit). It is not a break: a later, dearer server
      // may need fewer hosts.
      if (second != nullptr && scope.preferred == 0 &&
          count * regions * s.monthly_usd > second->cost + 1e-9) {
        continue;
      }
      if (count != spec.count) {
        if (count != scaled_count) {
          scaled_count = count;
          at_scaled = RoleLoad(spec, count, regions, u);
        }
        base = &at_scaled;
      }
    }
    result.placeable = true;
    const double slice_share = cap_share(count);
    // The ratio test below allows target + 1e-12; a margin a million times wider keeps this
    // necessary condition free of rounding doubts.
    if (fits_only &&
        (slice_share > target + 1e-6 ||
         (services + base->ram.fixed) + RamSlope(*base, s) * customers >
             (target + 1e-6) * s.ram_bytes ||
         base->cpu.At(customers) > (target + 1e-6) * s.vcpu ||
         (SwapSlope(*base, s) > 0 && (services + base->ram.fixed) + base->ram.slope * customers >
                                         (target + 1e-6) * (s.ram_bytes + s.swap_bytes)))) {
      continue;
    }
    RoleChoice& choice = slots[&slots[0] != first && &slots[0] != second   ? 0
                               : &slots[1] != first && &slots[1] != second ? 1
                                                                           : 2];
    Evaluate(*base, services, s, count, regions, customers, target, slice_share, false, choice);
    choice.preferred = ((scope.preferred >> s.provider_id) & 1u) != 0;
    if (choice.fits) {
      if (first == nullptr || Cheaper(choice, *first)) {
        second = first;
        first = &choice;
      } else if (second == nullptr || Cheaper(choice, *second)) {
        second = &choice;
      }
      if (choice.preferred && (preferred.server == nullptr || Cheaper(choice, preferred))) {
        preferred = choice;
      }
    } else if (least_bad.server == nullptr || choice.worst < least_bad.worst) {
      least_bad = choice;
    }
  }
  // A preferred provider's offering wins when one fits; the runner-up is then the cheapest other
  // offering, so the table shows what the preference costs.
  if (preferred.server != nullptr) {
    // A preferred choice fits, so there is a first.
    result.best = preferred;
    if (first->server != preferred.server) {
      result.runner_up = *first;
    } else if (second != nullptr) {
      result.runner_up = *second;
    }
  } else if (first != nullptr) {
    result.best = *first;
    if (second != nullptr) {
      result.runner_up = *second;
    }
  } else {
    result.best = least_bad;
  }
  if (result.best.server != nullptr) {
    const int n = result.best.count;
    best_load = n == spec.count     ? at_count
                : n == scaled_count ? at_scaled
                                    : RoleLoad(spec, n, regions, u);
  }
  return result;
}

// The least a role can cost in this scope: the tier's count of its cheapest allowed candidate.
double FloorCost(const RoleSpec& spec, int regions, const Catalog& c, const SearchScope& scope) {
  const Server& ref = c.servers()[spec.server_index];
  for (const std::size_t index : spec.candidates) {
    const Server& s = c.servers()[index];
    if (scope.Allows(s, ref)) {
      return s.monthly_usd * spec.count * regions;
    }
  }
  return std::numeric_limits<double>::infinity();
}

struct Layout {
  std::vector<LayoutRow> rows;
  // Each row's load per host (LoadPerHost at its count and `regions`): growth reads them again.
  std::vector<HostLoad> loads;
  int regions = 1;
  Utilization util;
  double cost = 0;
  bool hostable = true;
  bool fits = true;  // false only when built with fits_only and some role fits on no offering
  // Left unfinished: the roles sized so far plus the floors of the rest already cost the bound.
  bool over_bound = false;
  const RoleSpec* unhosted_role = nullptr;
};

// What ChooseRole would say of `any` and `placeable`, without sizing anything: some allowed
// candidate, and for a scalable role one on which a single host has room for the role's fixed RAM
// and CPU.
bool Hostable(const RoleSpec& spec, int regions, const Unit& u, const Catalog& c,
              const SearchScope& scope) {
  const double target = c.rules().target_utilization.value;
  const Server& ref = c.servers()[spec.server_index];
  const HostLoad one = spec.scalable ? RoleLoad(spec, 1, regions, u) : HostLoad{};
  for (const std::size_t index : spec.candidates) {
    const Server& s = c.servers()[index];
    if (!scope.Allows(s, ref)) {
      continue;
    }
    if (!spec.scalable || (target * s.ram_bytes - (ServicesRam(spec, s, c) + one.ram.fixed) > 0 &&
                           target * s.vcpu - one.cpu.fixed > 0)) {
      return true;
    }
  }
  return false;
}

// A layout into `layout` (its storage reused: batch builds several per row), or `hostable` false
// when some role has no allowed offering at all. With `fits_only`, a layout with a role that no
// offering fits comes back with `fits` false and its rows incomplete (only fitting layouts compete
// for the cheapest; the least bad one matters only when no tier fits).
// Whether the layout has this role: an opt-in read replica only when the workload asks for one.
bool InLayout(const RoleSpec& spec, bool replica) {
  return replica || !spec.only_with_replica;
}

// A role sized like an earlier one takes that role's choice (server, count, volume, price), with
// no runner-up of its own: `choice.server` stays null when that role is not in the rows (it did
// not fit).
RoleResult SizedLike(const RoleSpec& spec, const Tier& tier, const Layout& layout) {
  RoleResult result;
  result.any = true;
  result.placeable = true;
  const RoleSpec* like = &tier.roles[spec.sized_like_index];
  for (const LayoutRow& row : layout.rows) {
    if (row.spec == like) {
      result.best.server = row.server;
      result.best.count = row.count;
      result.best.volume = row.volume_bytes;
      result.best.cost = row.monthly_usd;
    }
  }
  return result;
}

}  // namespace

// A role that carries no demand, sized once: its choice and load depend only on the catalog, the
// search scope (from the options), the regions and whether only fits were looked for.
struct PlanMemo::Entries {
  struct Entry {
    const RoleSpec* spec;
    int regions;
    bool fits_only;
    RoleResult result;
    HostLoad load;
  };
  std::vector<Entry> entries;
};

PlanMemo::PlanMemo() : entries_(std::make_unique<Entries>()) {}
PlanMemo::~PlanMemo() = default;
std::size_t PlanMemo::size() const {
  return entries_->entries.size();
}

namespace {

bool CarriesNothing(const RoleSpec& spec) {
  return spec.carries == 0 && spec.cpu_share == 0 && !spec.sized_like;
}

// ChooseRole, through `memo` (may be null) for a role that carries no demand.
RoleResult ChooseRoleMemo(const RoleSpec& spec, int regions, const Unit& u, double customers,
                          const Catalog& c, const SearchScope& scope, bool fits_only,
                          HostLoad& best_load, PlanMemo* memo) {
  if (memo == nullptr || !CarriesNothing(spec)) {
    return ChooseRole(spec, regions, u, customers, c, scope, fits_only, best_load);
  }
  std::vector<PlanMemo::Entries::Entry>& entries = memo->entries().entries;
  for (const auto& e : entries) {
    if (e.spec == &spec && e.regions == regions && e.fits_only == fits_only) {
      best_load = e.load;
      return e.result;
    }
  }
  RoleResult result = ChooseRole(spec, regions, u, customers, c, scope, fits_only, best_load);
  entries.push_back({&spec, regions, fits_only, result, best_load});
  return result;
}

// `floors` (null: no bound): each role's FloorCost in tier order (0 for roles not in the layout),
// and `bound` what the layout must cost less than to matter. Once the roles sized so far plus the
// floors of the others reach it, the rest is not sized (`over_bound`); the rest is still checked
// for a role no allowed offering can host, which the plan reports.
void BuildLayout(const Tier& tier, int regions, const Unit& u, double customers, const Catalog& c,
                 const SearchScope& scope, bool fits_only, bool replica, PlanMemo* memo,
                 Layout& layout, const double* floors = nullptr, double bound = 0) {
  layout.rows.clear();
  layout.loads.clear();
  layout.regions = regions;
  layout.util = Utilization{};
  layout.cost = 0;
  layout.hostable = true;
  layout.fits = true;
  layout.over_bound = false;
  layout.unhosted_role = nullptr;
  double floors_left = 0;
  if (floors != nullptr) {
    for (std::size_t i = 0; i < tier.roles.size(); ++i) {
      floors_left += floors[i];
    }
  }
  for (const RoleSpec& spec : tier.roles) {
    if (!InLayout(spec, replica)) {
      continue;
    }
    if (floors != nullptr) {
      floors_left -= floors[&spec - tier.roles.data()];
      if (layout.over_bound || layout.cost + floors_left >= bound) {
        layout.over_bound = true;
        if (!spec.sized_like && !Hostable(spec, regions, u, c, scope)) {
          layout.hostable = false;
          layout.unhosted_role = &spec;
          return;
        }
        continue;
      }
    }
    HostLoad role_load;
    RoleResult result = spec.sized_like ? SizedLike(spec, tier, layout)
                                        : ChooseRoleMemo(spec, regions, u, customers, c, scope,
                                                         fits_only, role_load, memo);
    if (spec.sized_like && result.best.server != nullptr) {
      result.best.count /= regions;  // rows count every region's hosts, choices one region's
    }
    if (!result.any || !result.placeable) {
      layout.hostable = false;
      layout.unhosted_role = &spec;
      return;
    }
    if (result.best.server == nullptr) {
      layout.fits = false;  // fits_only: keep looking for a role that cannot be hosted at all
      continue;
    }
    const RoleChoice& choice = result.best;
    // The row and its load (LoadPerHost's, from the search's RoleLoad) are filled where they are
    // kept: a struct just written field by field and then copied whole stalls on store-to-load
    // forwarding.
    HostLoad& load = layout.loads.emplace_back(
        spec.sized_like ? RoleLoad(spec, choice.count, regions, u) : role_load);
    load.ram.fixed = ServicesRam(spec, *choice.server, c) + load.ram.fixed;
    load.swap.slope = SwapSlope(load, *choice.server);
    const Server& server = *choice.server;
    const RoleChoice& runner_up = result.runner_up;
    const bool has_runner_up = runner_up.server != nullptr;
    const double disk_demand = load.disk.At(customers);
    const double cpu_demand = load.cpu.At(customers);
    const double swap_demand =
        SwappedOut(load, server, customers, c.rules().target_utilization.value);
    const double ram_demand = load.ram.At(customers) - swap_demand;
    // Every field given, in declaration order: the row is built in place, not zero-filled first
    // (a `rep stos` of the whole row that perf showed) and then written again.
    const LayoutRow& row = layout.rows.emplace_back(LayoutRow{
        &spec, &server, choice.count * regions, /*volume_bytes=*/choice.volume,
        /*monthly_usd=*/choice.cost, /*runner_up=*/runner_up.server,
        /*runner_up_count=*/has_runner_up ? runner_up.count * regions : 0,
        /*runner_up_usd=*/has_runner_up ? runner_up.cost : 0.0, ram_demand, disk_demand, cpu_demand,
        /*ram_util=*/Ratio(ram_demand, server.ram_bytes),
        /*disk_util=*/Ratio(disk_demand, server.disk_bytes + choice.volume),
        /*cpu_util=*/Ratio(cpu_demand, server.vcpu), swap_demand,
        /*swap_util=*/Ratio(swap_demand, server.swap_bytes)});
    layout.util.swap = std::max(layout.util.swap, row.swap_util);
    layout.util.ram = std::max(layout.util.ram, row.ram_util);
    layout.util.disk = std::max(layout.util.disk, row.disk_util);
    layout.util.cpu = std::max(layout.util.cpu, row.cpu_util);
    layout.cost += row.monthly_usd;
  }
}

bool Allowed(const Tier& t, const Workload& w) {
  return (!w.ha || t.ha) && (w.regions == 1 || t.multi_region) && (!w.replica || t.has_replica);
}

// Why no tier is Allowed: each thing the workload asks for, and the tiers that offer it.
[[noreturn]] void ThrowNoTierAllows(const Workload& w, const Catalog& c) {
  const auto offering = [&c](bool Tier::*has) {
    std::string ids;
    for (const Tier& t : c.tiers()) {
      if (t.*has) {
        ids += fmt::format("{}{}", ids.empty() ? "tier " : ", ", t.id);
      }
    }
    return ids.empty() ? std::string("no tier") : ids;
  };
  std::vector<std::string> wants;
  std::string field;
  if (w.ha) {
    wants.push_back(fmt::format("high availability (--ha: {})", offering(&Tier::ha)));
    field = "--ha";
  }
  if (w.regions > 1) {
    wants.push_back(
        fmt::format("{} regions (--regions: {})", w.regions, offering(&Tier::multi_region)));
    field = "--regions";
  }
  if (w.replica) {
    wants.push_back(fmt::format("a read replica (--replica: {})", offering(&Tier::has_replica)));
    field = "--replica";
  }
  throw InputError(
      fmt::format("no tier offers {} together; drop one of them", fmt::join(wants, " and ")),
      field);
}

// Off-host backups: the workload's choice, else the tier's default.
bool OffHostBackups(const Tier& t, const Workload& w) {
  return w.backups.empty() ? t.off_host_backups : w.backups == "off-host";
}

// The backups cost line: the rule per deployment that backs up off the host.
double BackupUsd(const Tier& t, const Workload& w, const Rules& r) {
  return OffHostBackups(t, w) ? r.backup_usd_month.value : 0;
}

bool UnderEnvelopeMax(const Tier& t, long long customers, double messages_per_day) {
  return (t.max_customers == 0 || customers <= t.max_customers) &&
         (t.max_messages_per_day == 0 ||
          messages_per_day <= static_cast<double>(t.max_messages_per_day));
}

bool InsideEnvelope(const Tier& t, long long customers, double messages_per_day) {
  return customers >= t.min_customers && UnderEnvelopeMax(t, customers, messages_per_day);
}

long long CeilCount(double v) {
  return static_cast<long long>(std::ceil(v - 1e-9));
}

class Explainer {
 public:
  explicit Explainer(std::vector<ExplainLine>* lines) : lines_(lines) {}
  template <typename... Args>
  void Line(std::string figure, std::string result, fmt::format_string<Args...> arithmetic,
            Args&&... args) {
    if (lines_ != nullptr) {
      lines_->push_back({std::move(figure), fmt::format(arithmetic, std::forward<Args>(args)...),
                         std::move(result)});
    }
  }
  bool on() const { return lines_ != nullptr; }

 private:
  std::vector<ExplainLine>* lines_;
};

std::string Num(double v, int decimals = 0) {
  return FormatNumber(v, decimals);
}

// Formatting an explained figure costs more than computing it; batch plans a million rows
// without --explain, so the arguments are evaluated only when the listing is wanted.
#define EXPLAIN(ex, ...)      \
  do {                        \
    if ((ex).on()) {          \
      (ex).Line(__VA_ARGS__); \
    }                         \
  } while (false)

// Which roles the layout has, as the knobs need them.
struct LayoutRoles {
  long long slice_hosts = 0;
  long long app_processes = 0;
  const LayoutRow* pg = nullptr;  // the host holding the messages
  const LayoutRow* queue_db = nullptr;
  const LayoutRow* replica = nullptr;
};

// A row's first host as the rendering names it: the role for one host, role-1 of several.
std::string FirstHostName(const LayoutRow& row) {
  return row.count == 1 ? row.spec->role : row.spec->role + "-1";
}

LayoutRoles ScanRoles(const Plan& plan) {
  LayoutRoles roles;
  for (const LayoutRow& row : plan.layout) {
    const unsigned carries = row.spec->carries;
    if (carries & kCarrySessions) {
      roles.slice_hosts += row.count;
    }
    if ((carries & kCarryWebsockets) && !(carries & kCarrySessions)) {
      roles.app_processes += row.count;
    }
    if ((carries & kCarryMessages) && roles.pg == nullptr) {
      roles.pg = &row;
    }
    if ((carries & kCarryMessages) && row.spec->replica && roles.replica == nullptr) {
      roles.replica = &row;
    }
    if ((carries & kCarryQueue) && !(carries & kCarrySessions) && roles.queue_db == nullptr) {
      roles.queue_db = &row;
    }
  }
  return roles;
}

// On Kubernetes the node pool hosts pods; the pod counts come from the demand. Each region has its
// own database and pooler: connections are counted per region.
void KubernetesPods(Plan& plan, const Unit& u, const Tier& t, double target, bool settings,
                    LayoutRoles& roles, Explainer& ex) {
  const Workload& w = plan.workload;
  const auto customers = static_cast<double>(w.customers);
  const double pod_memory = static_cast<double>(t.floors.pod_memory_limit);
  const auto regions = static_cast<double>(w.regions);
  const double slice_ram =
      (u.sessions_ram + u.buffers_ram) * customers / regions + u.queue_ram / regions;
  const long long slice_pods =
      std::max(t.floors.slice_hosts, CeilCount(slice_ram / (target * pod_memory)));
  const double gateway_ram = u.websockets_ram * customers / regions;
  const long long gw_min =
      std::max(t.floors.gateway_hpa_min, CeilCount(gateway_ram / (target * pod_memory)));
  const long long gw_max = std::max(t.floors.gateway_hpa_max, 3 * gw_min);
  EXPLAIN(ex, "slice-host pods per region", Num(static_cast<double>(slice_pods)),
          "max(catalog floor {}, ⌈(sessions + buffers + queue) {} ÷ ({} × {} pod limit)⌉)",
          t.floors.slice_hosts, FormatBytes(slice_ram), Num(target, 2), FormatBytes(pod_memory));
  EXPLAIN(ex, "gateway pods (HPA) per region", fmt::format("{}–{}", gw_min, gw_max),
          "min = max(floor {}, ⌈websockets {} ÷ ({} × {})⌉); max = max(floor {}, 3 × min)",
          t.floors.gateway_hpa_min, FormatBytes(gateway_ram), Num(target, 2),
          FormatBytes(pod_memory), t.floors.gateway_hpa_max);
  if (settings) {
    plan.knobs.emplace_back("SLICE_HOSTS", slice_pods);
    plan.knobs.emplace_back("GATEWAY_HPA_MIN", gw_min);
    plan.knobs.emplace_back("GATEWAY_HPA_MAX", gw_max);
    plan.knobs.emplace_back("POD_MEMORY_LIMIT", static_cast<long long>(pod_memory));
  }
  if (slice_pods > kHashBuckets) {
    // Each pod owns at least one bucket of the hash space: crmd refuses a larger
    // WORKER_SHARD_COUNT.
    plan.warnings.push_back(fmt::format(
        "{} slice-host pods per region are more than the {} ranges of the tenant hash space "
        "crmd can split (WORKER_SHARD_COUNT); plan more regions (--regions)",
        slice_pods, kHashBuckets));
  }
  roles.slice_hosts = slice_pods;
  roles.app_processes = gw_max;
}

// Worker concurrency, database pools and the queue's knobs of every crmd process.
void ProcessKnobs(Plan& plan, const Catalog& c, const Engine& e, const Tier& t,
                  const LayoutRoles& roles, bool settings, Explainer& ex) {
  const Rules& r = c.rules();
  const Workload& w = plan.workload;
  const bool hash_ranged = t.topology == Topology::kHa || t.topology == Topology::kK8s;
  const long long slice_hosts = roles.slice_hosts;
  const long long app_processes = roles.app_processes;
  // Worker concurrency: enough workers that the peak rate never waits for one.
  const double peak_per_host =
      plan.demand.peak_messages_per_second / static_cast<double>(slice_hosts);
  const long long conc_floor = t.floors.worker_concurrency;
  const long long concurrency =
      std::max(conc_floor, CeilCount(peak_per_host * r.send_latency_s.value * 2));
  EXPLAIN(ex, "WORKER_CONCURRENCY (per slice host)", Num(static_cast<double>(concurrency)),
          "max(tier floor {}, ⌈{} msg/s per host × {} s per send × 2⌉)", conc_floor,
          Num(peak_per_host, 2), Num(r.send_latency_s.value, 2));
  long long max_open = 0;
  if (t.topology == Topology::kSingle && !plan.layout.empty()) {
    // One small host: the pool follows its RAM (rules db_pool_*), not the workers, whose sends
    // wait on the network, not on the database.
    const double ram = plan.layout.front().server->ram_bytes;
    const double small = r.db_pool_small_server.value;
    max_open = static_cast<long long>(
        std::clamp(std::floor(small * ram / r.db_pool_small_server_ram.value + 1e-9), small,
                   r.db_pool_large_server.value));
    EXPLAIN(ex, "DB_MAX_OPEN_CONNS (per crmd process)", Num(static_cast<double>(max_open)),
            "one host of {}: {} per {} of RAM, at least {}, at most {} (rules db_pool_*)",
            FormatBytes(ram), Num(small), FormatBytes(r.db_pool_small_server_ram.value), Num(small),
            Num(r.db_pool_large_server.value));
  } else {
    const long long conns_floor = t.floors.db_max_open_conns;
    max_open = std::max(conns_floor, CeilCount(static_cast<double>(concurrency) *
                                               r.db_connections_per_worker.value));
    EXPLAIN(ex, "DB_MAX_OPEN_CONNS (per crmd process)", Num(static_cast<double>(max_open)),
            "max(tier floor {}, ⌈{} workers × {} connections per worker⌉)", conns_floor,
            concurrency, Num(r.db_connections_per_worker.value, 2));
  }

  // Who opens connections: one pool per crmd process. On single and split hosts each slice is a
  // process of its own with a small pool; on ha/k8s slice hosts serve hash ranges.
  // SLICE_DB_MAX_OPEN_CONNS sizes each of a slice's pools; an engine measured as a whole states
  // how many connections one slice process holds in all (docs/capacity-model.md, "The crmd
  // engine").
  constexpr long long kSlicePool = 2;
  constexpr long long kHostPoolFloor = 10;
  constexpr long long kHostPoolPerCore = 4;
  const long long slice_pool =
      e.has_connections_per_slice ? CeilCount(e.connections_per_slice.value) : kSlicePool;
  long long processes = app_processes + (hash_ranged ? slice_hosts : 0);
  if (!hash_ranged && app_processes == 0) {
    processes = 1;  // the `all` host's gateway
  }
  long long slice_conns = hash_ranged ? 0 : w.customers * slice_pool;
  // Without a pooler in front of the database, crmd runs one beside its slices: a few backends
  // per core, and at least one per slice, never more than they would hold unpooled
  // (docs/operations.md, "Slices behind the host's pooler"). Its pools are per login: below one
  // backend per slice, slices active at once take each other's backends, each time a new one.
  long long host_pool = 0;
  if (!hash_ranged && !t.pgbouncer && !plan.layout.empty()) {
    const auto cores = static_cast<long long>(std::max(1.0, plan.layout.front().server->vcpu));
    host_pool = std::min(slice_conns,
                         std::max({kHostPoolFloor, kHostPoolPerCore * cores, w.customers}));
    EXPLAIN(ex, "SLICE_POOL_SIZE (the slices' pooler)", Num(static_cast<double>(host_pool)),
            "min({} slices × {} each, max({}, {} cores × {}, one per slice))", w.customers,
            slice_pool, kHostPoolFloor, cores, kHostPoolPerCore);
    slice_conns = host_pool;
  }
  plan.demand.db_connections = processes * max_open + slice_conns;
  if (hash_ranged) {
    EXPLAIN(ex,
            t.topology == Topology::kK8s ? "database connections per region (clients)"
                                         : "database connections (clients)",
            Num(static_cast<double>(plan.demand.db_connections)),
            "{} crmd processes × {} DB_MAX_OPEN_CONNS", processes, max_open);
  } else if (host_pool > 0) {
    EXPLAIN(ex, "database connections", Num(static_cast<double>(plan.demand.db_connections)),
            "{} gateway process(es) × {} + SLICE_POOL_SIZE {}", processes, max_open, host_pool);
  } else {
    EXPLAIN(ex, "database connections", Num(static_cast<double>(plan.demand.db_connections)),
            "{} gateway process(es) × {} + {} slice processes × {} each", processes, max_open,
            w.customers, slice_pool);
  }

  if (!settings) {
    return;  // what follows are settings only (PlanOptions::settings)
  }
  plan.knobs.emplace_back("DB_MAX_OPEN_CONNS", max_open);
  plan.knobs.emplace_back("WORKER_CONCURRENCY", concurrency);
  if (!hash_ranged) {
    plan.knobs.emplace_back("SLICE_DB_MAX_OPEN_CONNS", kSlicePool);
  }
  if (host_pool > 0) {
    plan.knobs.emplace_back("SLICE_POOL_SIZE", host_pool);
  }
  const long long depth =
      std::max(static_cast<long long>(r.queue_max_depth.value), w.peak_pending_tasks);
  plan.knobs.emplace_back("QUEUE_MAX_DEPTH", depth);
  EXPLAIN(ex, "QUEUE_MAX_DEPTH", Num(static_cast<double>(depth)),
          "max(rule {}, peak_pending_tasks {})", Num(r.queue_max_depth.value),
          Num(static_cast<double>(w.peak_pending_tasks)));
  plan.knobs.emplace_back("PHONE_RPS", static_cast<long long>(r.phone_rate.value));
  plan.knobs.emplace_back(
      "STATEMENT_TIMEOUT",
      std::to_string(static_cast<long long>(r.statement_timeout_s.value)) + "s");
  if (hash_ranged && t.topology != Topology::kK8s) {
    // The split crmd makes of a StatefulSet's ordinals, so both topologies shard alike.
    std::string ranges;
    for (long long i = 0; i < slice_hosts; ++i) {
      if (i > 0) {
        ranges += ',';
      }
      ranges += HashRangeText(HashShareOfOrdinal(i, slice_hosts));
    }
    plan.knobs.emplace_back("WORKER_SHARD_RANGE", ranges);
    EXPLAIN(ex, "WORKER_SHARD_RANGE", ranges,
            "tenant hash space 0–100 % split evenly over {} slice hosts", slice_hosts);
  }
  // The queue's primary: the first of its hosts (the second is its standby).
  if (roles.queue_db != nullptr) {
    plan.knobs.emplace_back("QUEUE_DATABASE_URL", fmt::format("postgresql://crm@{}:5432/crm_queue",
                                                              FirstHostName(*roles.queue_db)));
  }
  if (roles.replica != nullptr) {
    plan.knobs.emplace_back("DB_READ_REPLICA_URL",
                            fmt::format("postgresql://{}:5432/crm", FirstHostName(*roles.replica)));
  }
}

// The limits the orchestrator puts on each slice.
void SliceKnobs(Plan& plan, const Unit& u, const Catalog& c, const Engine& e, bool settings,
                Explainer& ex) {
  const Workload& w = plan.workload;
  const Rules& r = c.rules();
  constexpr double kSliceProcessBase = 8e6;  // an idle slice process (bench/gateway target)
  const double slice_steady = kSliceProcessBase +
                              static_cast<double>(w.devices_per_customer) * e.ram_per_device.value +
                              BufferPerCustomer(e, r);
  const auto devices = static_cast<double>(std::max(1LL, w.devices_per_customer));
  if (e.has_slice_memory_limit) {
    // The engine's own limit from its source (a Chromium slice: 512 MB), per device.
    const auto slice_limit = static_cast<long long>(devices * e.slice_memory_limit.value);
    if (settings) {
      plan.knobs.emplace_back("SLICE_MEMORY_LIMIT", slice_limit);
    }
    EXPLAIN(ex, "SLICE_MEMORY_LIMIT", FormatBytes(static_cast<double>(slice_limit)),
            "{} device(s) × {} ({}'s slice limit)", Num(devices),
            FormatBytes(e.slice_memory_limit.value), w.engine);
    if (slice_steady > static_cast<double>(slice_limit)) {
      plan.warnings.push_back(fmt::format(
          "SLICE_MEMORY_LIMIT {} is below a slice's steady footprint {} ({}'s slice limit from "
          "engines.yaml): slices would be OOM-killed",
          FormatBytes(static_cast<double>(slice_limit)), FormatBytes(slice_steady), w.engine));
    }
  } else if (!settings) {
    return;  // the rest are settings only (PlanOptions::settings); no warning below
  } else {
    const auto slice_limit =
        static_cast<long long>(std::ceil(slice_steady * r.slice_memory_headroom.value / 1e6) * 1e6);
    plan.knobs.emplace_back("SLICE_MEMORY_LIMIT", slice_limit);
    EXPLAIN(ex, "SLICE_MEMORY_LIMIT", FormatBytes(static_cast<double>(slice_limit)),
            "(8 MB process + {} devices × {} + {} buffer) × {} headroom", w.devices_per_customer,
            FormatBytes(e.ram_per_device.value), FormatBytes(BufferPerCustomer(e, r)),
            Num(r.slice_memory_headroom.value, 2));
  }
  if (!settings) {
    return;
  }
  if (e.has_slice_cpu_limit) {
    const double cores = devices * e.slice_cpu_limit.value;
    plan.knobs.emplace_back("CRM_SLICE_CPU_LIMIT", fmt::format("{:g}", cores));
    EXPLAIN(ex, "CRM_SLICE_CPU_LIMIT", fmt::format("{:g} cores", cores),
            "{} device(s) × {} cores ({}'s slice limit)", Num(devices),
            Num(e.slice_cpu_limit.value, 2), w.engine);
  }
  if (r.max_slices_per_host.value > 0) {
    // The runtime counts its warm slice (CRM_WARM_SLICES, 1 by default) within the cap.
    const auto max_slices = static_cast<long long>(r.max_slices_per_host.value) + 1;
    plan.knobs.emplace_back("CRM_MAX_SLICES", max_slices);
    EXPLAIN(ex, "CRM_MAX_SLICES", Num(static_cast<double>(max_slices)),
            "rule max_slices_per_host {} tenants + 1 warm slice", Num(r.max_slices_per_host.value));
  }
  const double quota = std::max(r.slice_storage_quota.value, u.stored_disk);
  plan.knobs.emplace_back("SLICE_STORAGE_QUOTA", static_cast<long long>(quota));
  EXPLAIN(ex, "SLICE_STORAGE_QUOTA", FormatBytes(quota),
          "max(rule {}, one customer's stored messages {})",
          FormatBytes(r.slice_storage_quota.value), FormatBytes(u.stored_disk));
}

// PostgreSQL (PGTune, web profile) on the host that holds the messages, and PgBouncer's pools.
// Returns max_connections (computed also without `settings`: a warning checks it).
long long PostgresSettings(Plan& plan, const LayoutRow* pg, const Rules& r, const Tier& t,
                           bool settings, Explainer& ex) {
  const double ram = pg->server->ram_bytes;
  const double cpus = std::max(1.0, pg->server->vcpu);
  const auto workers = static_cast<long long>(cpus);
  const long long reserved = static_cast<long long>(r.pg_reserved_connections.value);
  long long max_connections = plan.demand.db_connections + reserved;
  if (t.pgbouncer) {
    // PgBouncer in transaction mode. Its pools are per (database, login role), and every crmd
    // process (gateways, slice hosts, the slices behind them) logs in as the one crmd role to
    // the one database, becoming the tenant's role per transaction (docs/operations.md,
    // "PostgreSQL behind PgBouncer"): one pool. The queue database is reached directly (its
    // dispatchers LISTEN there), never through the pooler. A few server connections per core do
    // the work, at least 15.
    const long long num_pools = 1;
    const long long server_conns = std::max(15LL, static_cast<long long>(cpus) * 4);
    const long long pool_size = server_conns / num_pools;
    const long long max_db = num_pools * pool_size;
    max_connections = max_db + reserved;
    if (!settings) {
      return max_connections;
    }
    plan.knobs.emplace_back("PGBOUNCER_MAX_CLIENT_CONN", plan.demand.db_connections + reserved);
    plan.knobs.emplace_back("PGBOUNCER_NUM_POOLS", num_pools);
    plan.knobs.emplace_back("PGBOUNCER_DEFAULT_POOL_SIZE", pool_size);
    plan.knobs.emplace_back("PGBOUNCER_MAX_DB_CONNECTIONS", max_db);
    EXPLAIN(ex, "PgBouncer pools",
            fmt::format("{} pools × {} = {} server connections", num_pools, pool_size, max_db),
            "one pool: every crmd process logs in as one role to one database; size = max(15, {} "
            "cores × 4)",
            Num(cpus));
  }
  if (!settings) {
    return max_connections;
  }
  const double shared_buffers = ram / 4;
  const double effective_cache = ram * 3 / 4;
  const double maintenance = std::min(ram / 16, 8.0 * 1024 * 1024 * 1024);
  const double work_mem =
      std::max(4.0 * 1024 * 1024,
               (ram - shared_buffers) / (static_cast<double>(max_connections + workers) * 3));
  const double wal_buffers = std::min(shared_buffers * 0.03, 16.0 * 1024 * 1024);
  const bool nvme = pg->server->disk_type == DiskType::kNvme;
  auto& pgs = plan.postgres;
  pgs.emplace_back("max_connections", static_cast<double>(max_connections));
  pgs.emplace_back("shared_buffers", std::floor(shared_buffers / 8192) * 8192);
  pgs.emplace_back("effective_cache_size", std::floor(effective_cache / 8192) * 8192);
  pgs.emplace_back("maintenance_work_mem", std::floor(maintenance / 1024) * 1024);
  pgs.emplace_back("work_mem", std::floor(work_mem / 1024) * 1024);
  pgs.emplace_back("wal_buffers", std::floor(wal_buffers / 8192) * 8192);
  pgs.emplace_back("min_wal_size", 1024.0 * 1024 * 1024);
  pgs.emplace_back("max_wal_size", 4.0 * 1024 * 1024 * 1024);
  pgs.emplace_back("checkpoint_completion_target", 0.9);
  pgs.emplace_back("default_statistics_target", 100);
  pgs.emplace_back("random_page_cost", 1.1);
  pgs.emplace_back("effective_io_concurrency", nvme ? 1000 : 200);
  pgs.emplace_back("max_worker_processes", static_cast<double>(workers));
  if (workers >= 4) {
    const double half = std::min(4.0, std::ceil(cpus / 2));
    pgs.emplace_back("max_parallel_workers_per_gather", half);
    pgs.emplace_back("max_parallel_workers", static_cast<double>(workers));
    pgs.emplace_back("max_parallel_maintenance_workers", half);
  }
  pgs.emplace_back("statement_timeout", r.statement_timeout_s.value * 1000);
  EXPLAIN(ex, "max_connections", Num(static_cast<double>(max_connections)), "{} {} + {} reserved",
          max_connections - reserved,
          t.pgbouncer ? "PgBouncer server connections" : "database connections", reserved);
  EXPLAIN(ex, "shared_buffers", FormatBytes(shared_buffers), "{} RAM of the PostgreSQL host ÷ 4",
          FormatBytes(ram));
  EXPLAIN(ex, "effective_cache_size", FormatBytes(effective_cache), "3 × {} ÷ 4", FormatBytes(ram));
  EXPLAIN(ex, "maintenance_work_mem", FormatBytes(maintenance), "min({} ÷ 16, 8 GiB)",
          FormatBytes(ram));
  EXPLAIN(ex, "work_mem", FormatBytes(work_mem),
          "max(4 MiB, ({} − {} shared_buffers) ÷ (({} connections + {} workers) × 3))",
          FormatBytes(ram), FormatBytes(shared_buffers), max_connections, workers);
  EXPLAIN(ex, "wal_buffers", FormatBytes(wal_buffers), "min(3 % of {}, 16 MiB)",
          FormatBytes(shared_buffers));
  EXPLAIN(ex, "effective_io_concurrency", nvme ? "1000" : "200", "{} disk", nvme ? "NVMe" : "SSD");
  return max_connections;
}

// Returns PostgreSQL's max_connections, 0 when no host holds the messages.
long long ComputeKnobs(Plan& plan, const Unit& u, const Catalog& c, const Engine& e, bool settings,
                       Explainer& ex) {
  const Tier& t = *plan.tier;
  LayoutRoles roles = ScanRoles(plan);
  if (t.topology == Topology::kK8s) {
    KubernetesPods(plan, u, t, c.rules().target_utilization.value, settings, roles, ex);
  }
  if (roles.slice_hosts == 0) {
    roles.slice_hosts = 1;
  }
  ProcessKnobs(plan, c, e, t, roles, settings, ex);
  SliceKnobs(plan, u, c, e, settings, ex);
  if (roles.pg == nullptr) {
    return 0;
  }
  return PostgresSettings(plan, roles.pg, c.rules(), t, settings, ex);
}

// Months until the chosen layout crosses the target or the tier's envelope, from the closed form
// of each host's load: fixed + slope × customers.
// The first month m with c0·(1+g)^m > at, 0 when already past; none beyond 120 months.
std::optional<int> MonthCrossing(double c0, double growth, double at) {
  if (c0 > at) {
    return 0;
  }
  if (growth > 0 && std::isfinite(at)) {
    const double m = std::floor(std::log(at / c0) / std::log1p(growth)) + 1;
    if (m <= kUpgradeScanMonths) {
      return static_cast<int>(m);
    }
  }
  return std::nullopt;
}

// The scaling guide's triggers (rules trigger_*) as customer counts on the chosen layout: the
// database's size where it shares a host with the slices, CPU and memory on every host. p95
// latency is measured by the monitor, not modelled.
void ScaleTriggers(Plan& plan, const Unit& u, const Catalog& c) {
  const Workload& w = plan.workload;
  const Rules& r = c.rules();
  Growth& g = plan.growth;
  g.triggers.clear();
  auto consider = [&](double at, auto&& name) {
    at = std::max(at, 0.0);  // below zero: the fixed load alone has fired it
    if (std::isfinite(at)) {
      g.triggers.push_back(
          {name(), at, MonthCrossing(static_cast<double>(w.customers), w.growth_per_month, at)});
    }
  };
  const double regions = static_cast<double>(w.regions);
  for (const LayoutRow& row : plan.layout) {
    const int hosts_per_region = row.count / static_cast<int>(w.regions);
    const HostLoad load =
        LoadPerHost(*row.spec, *row.server, hosts_per_region, static_cast<int>(w.regions), u, c);
    const unsigned both = kCarrySessions | kCarryMessages;
    if ((row.spec->carries & both) == both && u.messages_disk > 0) {
      // Raw retained messages, per region: what PostgreSQL holds on this host.
      const double per_customer = u.messages_disk / regions;
      consider(r.trigger_db_off_app_host.value / per_customer, [&] {
        return fmt::format("database > {} on the {} host: move it off the app host",
                           FormatBytes(r.trigger_db_off_app_host.value), row.spec->role);
      });
      consider(r.trigger_db_dedicated.value / per_customer, [&] {
        return fmt::format("database > {} on the {} host: a dedicated database server",
                           FormatBytes(r.trigger_db_dedicated.value), row.spec->role);
      });
    }
    if (load.cpu.slope > 0) {
      consider((r.trigger_cpu.value * row.server->vcpu - load.cpu.fixed) / load.cpu.slope, [&] {
        return fmt::format("CPU > {:.0f} % on the {} host", r.trigger_cpu.value * 100,
                           row.spec->role);
      });
    }
    const double ram_slope = RamSlope(load, *row.server);
    if (ram_slope > 0) {
      consider((r.trigger_memory.value * row.server->ram_bytes - load.ram.fixed) / ram_slope, [&] {
        return fmt::format("memory > {:.0f} % on the {} host", r.trigger_memory.value * 100,
                           row.spec->role);
      });
    }
  }
  g.not_modelled = fmt::format(
      "p95 latency > {} ms is measured by the monitor, not modelled: per-unit rules do not "
      "predict queueing delay",
      FormatNumber(r.trigger_p95_latency_s.value * 1000));
  std::stable_sort(
      g.triggers.begin(), g.triggers.end(),
      [](const ScaleTrigger& a, const ScaleTrigger& b) { return a.customers < b.customers; });
  if (!g.triggers.empty()) {
    g.first_trigger = g.triggers.front().name;
    g.first_trigger_customers = g.triggers.front().FiresAt();
    g.first_trigger_month = g.triggers.front().month;
  }
}

// One price's MRR, margin and break-even at the workload's customers and the layout's cost.
PriceRevenue RevenueAt(std::string_view plan_name, double price, const Plan& plan) {
  PriceRevenue r;
  r.plan = plan_name;
  r.price_per_customer_month = price;
  r.mrr_usd = static_cast<double>(plan.workload.customers) * price;
  r.margin_usd = r.mrr_usd - plan.monthly_usd;
  r.break_even_customers = price > 0 ? CeilCount(plan.monthly_usd / price) : 0;
  return r;
}

// Revenue (docs/capacity-model.md, "Revenue"): the workload's price (its own or a plan of
// pricing.yaml), the launch figures under its coupon, and every plan for comparison.
void ComputeRevenue(Plan& plan, const Catalog& c, const PlanOptions& options, Explainer& ex) {
  const Workload& w = plan.workload;
  const Pricing& pricing = c.pricing();
  const PricePlan* price_plan = w.price_plan.empty() ? nullptr : pricing.FindPlan(w.price_plan);
  if (!w.price_per_customer_month && price_plan == nullptr) {
    return;
  }
  Revenue rev;
  static_cast<PriceRevenue&>(rev) =
      price_plan != nullptr ? RevenueAt(price_plan->name, price_plan->usd_per_customer_month, plan)
                            : RevenueAt({}, *w.price_per_customer_month, plan);
  const double cost = plan.monthly_usd;
  EXPLAIN(ex, "MRR", FormatUsd(rev.mrr_usd), "{} customers × {}{}",
          Num(static_cast<double>(w.customers)), FormatUsd(rev.price_per_customer_month),
          rev.plan.empty() ? std::string() : fmt::format(" (plan {})", rev.plan));
  EXPLAIN(ex, "margin", FormatUsd(rev.margin_usd), "{} − {} cost", FormatUsd(rev.mrr_usd),
          FormatUsd(cost));
  if (rev.price_per_customer_month > 0) {
    EXPLAIN(ex, "break-even", fmt::format("{} customers", rev.break_even_customers), "⌈{} ÷ {}⌉",
            FormatUsd(cost), FormatUsd(rev.price_per_customer_month));
  } else {
    plan.warnings.push_back("price_per_customer_month is 0: the deployment never breaks even");
  }
  if (const Coupon* coupon = w.coupon.empty() ? nullptr : pricing.FindCoupon(w.coupon)) {
    rev.coupon = coupon->name;
    rev.percent_off = coupon->percent_off;
    rev.coupon_months = coupon->months;
    rev.launch = RevenueAt(rev.plan, coupon->Discounted(rev.price_per_customer_month), plan);
    EXPLAIN(ex, "launch MRR", FormatUsd(rev.launch->mrr_usd), "{} customers × {} ({} − {:g} %, {})",
            Num(static_cast<double>(w.customers)), FormatUsd(rev.launch->price_per_customer_month),
            FormatUsd(rev.price_per_customer_month), coupon->percent_off, coupon->name);
    if (rev.launch->price_per_customer_month > 0) {
      EXPLAIN(ex, "launch break-even",
              fmt::format("{} customers", rev.launch->break_even_customers), "⌈{} ÷ {}⌉",
              FormatUsd(cost), FormatUsd(rev.launch->price_per_customer_month));
    }
    if (rev.launch->margin_usd < 0) {
      plan.warnings.push_back(fmt::format(
          "coupon {}: {} customer{} at {} cover{} {} of the {} monthly cost for their first {} "
          "month{} (break-even {} customers)",
          coupon->name, Num(static_cast<double>(w.customers)), w.customers == 1 ? "" : "s",
          FormatUsd(rev.launch->price_per_customer_month), w.customers == 1 ? "s" : "",
          FormatUsd(rev.launch->mrr_usd), FormatUsd(cost), coupon->months,
          coupon->months == 1 ? "" : "s",
          rev.launch->price_per_customer_month > 0
              ? Num(static_cast<double>(rev.launch->break_even_customers))
              : std::string("no")));
    }
  }
  if (options.compare_plans) {
    rev.by_plan.reserve(pricing.plans.size());
    for (const PricePlan& p : pricing.plans) {
      rev.by_plan.push_back(RevenueAt(p.name, p.usd_per_customer_month, plan));
    }
  }
  plan.revenue = std::move(rev);
}

// The tier each projected month needs: a plan (without growth of its own) for the customers the
// month reaches, ⌈c × (1 + g)^m⌉ (so it agrees with the months until upgrade, which count a
// fraction past a limit as past it), with the same constraints and search. Month 0 is this plan.
void ProjectionTiers(Plan& plan, const Catalog& c, const PlanOptions& options) {
  PlanOptions month_options;
  month_options.projection = false;
  month_options.reasons = false;
  month_options.compare_plans = false;
  month_options.only_tier = options.only_tier;
  month_options.search = plan.search;
  month_options.providers = options.providers;
  month_options.prefer = options.prefer;
  Workload w = plan.workload;
  w.growth_per_month = 0;
  w.price_per_customer_month.reset();
  w.price_plan.clear();
  w.coupon.clear();
  Plan month_plan;
  const auto c0 = static_cast<double>(plan.workload.customers);
  long long planned_for = plan.workload.customers;
  int tier = plan.tier->id;
  for (ProjectionMonth& month : plan.growth.projection) {
    const double reached =
        c0 * std::pow(1 + plan.workload.growth_per_month, static_cast<double>(month.month));
    const long long customers = std::max(1LL, CeilCount(reached));
    if (customers != planned_for) {
      w.customers = customers;
      MakePlan(w, c, month_options, month_plan);
      planned_for = customers;
      tier = month_plan.tier->id;
    }
    month.tier = tier;
  }
}

// `loads`: the layout's loads per host, row by row, when they were computed for the workload's
// regions (nullptr: computed here). They must be read before ProjectionTiers, whose plans reuse
// the storage they live in.
void ComputeGrowth(Plan& plan, const Unit& u, const Catalog& c, const PlanOptions& options,
                   const std::vector<HostLoad>* loads, Explainer& ex) {
  const Workload& w = plan.workload;
  const double target = c.rules().target_utilization.value;
  Growth& g = plan.growth;
  g.rate_per_month = w.growth_per_month;
  const auto c0 = static_cast<double>(w.customers);
  // The customer count at which the first limit is crossed.
  double limit = std::numeric_limits<double>::infinity();
  // What limits growth, formatted once at the end (this runs for every batch row).
  enum class Limit { kNone, kCustomers, kMessages, kResource, kSliceCap } limit_kind = Limit::kNone;
  const char* limit_resource = nullptr;
  const LayoutRow* limit_row = nullptr;
  const Tier& t = *plan.tier;
  if (t.max_customers > 0) {
    limit = static_cast<double>(t.max_customers);
    limit_kind = Limit::kCustomers;
  }
  if (t.max_messages_per_day > 0 && w.messages_per_customer_day > 0) {
    const double at = static_cast<double>(t.max_messages_per_day) /
                      static_cast<double>(w.messages_per_customer_day);
    if (at < limit) {
      limit = at;
      limit_kind = Limit::kMessages;
    }
  }
  for (std::size_t i = 0; i < plan.layout.size(); ++i) {
    const LayoutRow& row = plan.layout[i];
    const int hosts_per_region = row.count / static_cast<int>(w.regions);
    const HostLoad load = loads != nullptr ? (*loads)[i]
                                           : LoadPerHost(*row.spec, *row.server, hosts_per_region,
                                                         static_cast<int>(w.regions), u, c);
    // With swap the two RAM conditions of RamSlope and SwapSlope; without, total's slope is 0.
    const Linear ram{load.ram.fixed, RamSlope(load, *row.server)};
    const Linear total = load.swap.slope > 0 ? load.ram : Linear{};
    const struct {
      const Linear* l;
      double cap;
      const char* what;
    } resources[] = {{&ram, row.server->ram_bytes, "RAM"},
                     {&load.cpu, row.server->vcpu, "CPU"},
                     {&load.disk, row.disk_bytes(), "disk"},
                     {&total, row.server->ram_bytes + row.server->swap_bytes, "RAM + swap"}};
    for (const auto& res : resources) {
      if (res.l->slope <= 0) {
        continue;
      }
      const double at = (target * res.cap - res.l->fixed) / res.l->slope;
      if (at < limit) {
        limit = at;
        limit_kind = Limit::kResource;
        limit_resource = res.what;
        limit_row = &row;
      }
    }
    // The slice cap: the tenants the row's hosts may hold, all regions together.
    if (const double cap = c.rules().max_slices_per_host.value;
        cap > 0 && (row.spec->carries & kCarrySessions) != 0) {
      const double at = cap * (row.spec->split ? row.count : static_cast<int>(w.regions));
      if (at < limit) {
        limit = at;
        limit_kind = Limit::kSliceCap;
        limit_row = &row;
      }
    }
  }
  if (options.projection) {
    g.projection.reserve(static_cast<std::size_t>(w.horizon_months) + 1);
    for (long long m = 0; m <= w.horizon_months; ++m) {
      const double v = c0 * std::pow(1 + w.growth_per_month, static_cast<double>(m));
      g.projection.push_back({static_cast<int>(m), std::llround(v), 0});
    }
    if (options.projection_tiers) {
      ProjectionTiers(plan, c, options);
    }
  }
  if (options.reasons || options.explain) {
    ScaleTriggers(plan, u, c);
  }
  switch (options.reasons || options.explain ? limit_kind : Limit::kNone) {
    case Limit::kNone:
      break;
    case Limit::kCustomers:
      g.upgrade_reason = fmt::format("tier {} envelope ends at {} customers", t.id,
                                     FormatNumber(static_cast<double>(t.max_customers)));
      break;
    case Limit::kMessages:
      g.upgrade_reason = fmt::format("tier {} envelope ends at {} messages/day", t.id,
                                     FormatNumber(static_cast<double>(t.max_messages_per_day)));
      break;
    case Limit::kResource:
      g.upgrade_reason = fmt::format("{} of the {} host reaches {:.0f} %", limit_resource,
                                     limit_row->spec->role, target * 100);
      break;
    case Limit::kSliceCap:
      g.upgrade_reason = fmt::format("the {} host{} reach{} the slice cap ({} tenants each)",
                                     limit_row->spec->role, limit_row->count == 1 ? "" : "s",
                                     limit_row->count == 1 ? "es" : "",
                                     FormatNumber(c.rules().max_slices_per_host.value));
      break;
  }
  const std::string& reason = g.upgrade_reason;
  if (c0 > limit) {
    g.months_until_upgrade = 0;
  } else if (w.growth_per_month > 0 && std::isfinite(limit)) {
    // Smallest whole month m with c0·(1+g)^m > limit.
    const double m = std::floor(std::log(limit / c0) / std::log1p(w.growth_per_month)) + 1;
    if (m <= kUpgradeScanMonths) {
      g.months_until_upgrade = static_cast<int>(m);
    }
  }
  if (ex.on()) {
    if (g.months_until_upgrade) {
      EXPLAIN(ex, "months until upgrade", Num(*g.months_until_upgrade),
              "first month where {} × (1 + {})^m exceeds {} customers ({})", Num(c0),
              Num(w.growth_per_month, 4), Num(std::floor(limit)), reason);
    } else {
      EXPLAIN(ex, "months until upgrade", "none within 120 months",
              "growth {} per month; first limit at {} customers ({})", Num(w.growth_per_month, 4),
              std::isfinite(limit) ? Num(std::floor(limit)) : std::string("∞"), reason);
    }
  }
}

// Warning strings of earlier plans on this thread, emptied but keeping their memory: batch plans
// a million rows into one Plan per thread, and most rows carry a warning.
std::vector<std::string>& SpareWarnings() {
  thread_local std::vector<std::string> spare;
  return spare;
}

// Empties plan.warnings, keeping a few of its strings' memory for the next plan's warnings.
void RecycleWarnings(Plan& plan) {
  constexpr std::size_t kKept = 8;
  std::vector<std::string>& spare = SpareWarnings();
  for (std::string& warning : plan.warnings) {
    if (spare.size() >= kKept) {
      break;
    }
    warning.clear();
    spare.push_back(std::move(warning));
  }
  plan.warnings.clear();
}

// A new, empty warning at the end of plan.warnings, in a recycled string when there is one.
std::string& NewWarning(Plan& plan) {
  std::vector<std::string>& spare = SpareWarnings();
  if (spare.empty()) {
    return plan.warnings.emplace_back();
  }
  std::string& warning = plan.warnings.emplace_back(std::move(spare.back()));
  spare.pop_back();
  return warning;
}

// The layout against the tier's published price: above it is a warning; below it is explained
// (cheaper providers than the published servers, or what the published figure prices that the
// catalog does not) for a single plan, not for batch rows.
void PublishedRangeWarnings(Plan& plan, const Catalog& c, const PlanOptions& options) {
  const Tier& t = *plan.tier;
  if (t.published_max_usd <= 0) {
    return;
  }
  // Formatted only when a warning needs it: batch checks every row.
  const auto range = [&t]() {
    return fmt::format("{}–{}", FormatUsd(t.published_min_usd), FormatUsd(t.published_max_usd));
  };
  if (plan.monthly_usd > t.published_max_usd + 1e-9) {
    fmt::format_to(std::back_inserter(NewWarning(plan)),
                   "{}/month is above tier {}'s published {}–{}: the workload needs more than the "
                   "tier's reference servers",
                   FormatUsd(plan.monthly_usd), t.id, FormatUsd(t.published_min_usd),
                   FormatUsd(t.published_max_usd));
    return;
  }
  if (plan.monthly_usd >= t.published_min_usd - 1e-9 || !(options.reasons || options.explain)) {
    return;
  }
  double reference = 0;
  for (const RoleSpec& spec : t.roles) {
    reference += c.servers()[spec.server_index].monthly_usd * spec.count;
  }
  if (plan.search == Search::kCatalog && plan.monthly_usd < reference - 1e-9) {
    plan.warnings.push_back(fmt::format(
        "{}/month is below tier {}'s published {}: that range prices the tier's reference servers "
        "({}/month at one region); this layout takes the cheapest servers of any provider that "
        "keep "
        "every host ≤ {:.0f} %",
        FormatUsd(plan.monthly_usd), t.id, range(), FormatUsd(reference),
        c.rules().target_utilization.value * 100));
  }
  if (!t.published_note.empty()) {
    plan.warnings.push_back(fmt::format("{}/month is below tier {}'s published {}: {}",
                                        FormatUsd(plan.monthly_usd), t.id, range(),
                                        t.published_note));
  }
}

// What --swap did, and what to watch: it counts on slices staying idle (docs/capacity-model.md
// "Swap").
std::string SwapWarning(const Workload& w, const Catalog& c, bool swapped, double swap_util) {
  const Engine& e = *c.FindEngine(w.engine);
  const Rules& r = c.rules();
  if (!e.idle_swappable) {
    return fmt::format(
        "--swap: {} has no idle resident size in the catalog (its idle pages are not pushed "
        "out); every device is counted at its full size",
        e.name);
  }
  if (!swapped) {
    return "--swap: no chosen server lists swap in the catalog; every device is counted at its "
           "full size";
  }
  return fmt::format(
      "overcommitment (--swap): up to {:.0f} % of slices may sit idle at {} resident with the "
      "rest of their {} in swap (busiest host's swap at {:.0f} %); if more wake at once they page "
      "back in: watch the swap-in rate (the monitor alerts above {} pages/s, "
      "monitor_swapin_pages_per_s)",
      w.idle_share.value_or(r.idle_share.value) * 100, FormatBytes(e.idle_resident.value),
      FormatBytes(e.ram_per_device.value), swap_util * 100,
      FormatNumber(r.swapin_alert_pages_per_s.value));
}

void AddWarnings(Plan& plan, const Catalog& c, bool any_inside, long long pg_max_connections,
                 const PlanOptions& options) {
  const Workload& w = plan.workload;
  const Rules& r = c.rules();
  const Tier& t = *plan.tier;
  if (plan.zone == Zone::kRed) {
    plan.warnings.push_back(fmt::format(
        "red zone: the busiest host runs at {:.0f} % (RAM {:.0f} %, CPU {:.0f} %, disk {:.0f} %), "
        "above the {:.0f} % target; no layout in the catalog fits",
        plan.utilization.Max() * 100, plan.utilization.ram * 100, plan.utilization.cpu * 100,
        plan.utilization.disk * 100, r.target_utilization.value * 100));
  }
  if (!any_inside) {
    plan.warnings.push_back(fmt::format(
        "the workload ({} customers, {} messages/day) is outside every tier's envelope; tier {} "
        "is the cheapest layout that holds it",
        FormatNumber(static_cast<double>(w.customers)), FormatNumber(plan.demand.messages_per_day),
        t.id));
  } else if (w.customers < t.min_customers && (w.ha || w.regions > 1 || w.replica)) {
    plan.warnings.push_back(
        fmt::format("{} requires tier {} ({}), whose envelope starts at {} customers",
                    w.regions > 1 ? fmt::format("{} regions", w.regions)
                    : w.ha        ? std::string("--ha")
                                  : std::string("--replica"),
                    t.id, t.name, FormatNumber(static_cast<double>(t.min_customers))));
  }
  if (w.replica && !t.has_replica) {
    plan.warnings.push_back(fmt::format(
        "--replica: tier {} ({}) has no read replica role; tiers 3 and up have one", t.id, t.name));
  }
  if (w.peak_pending_tasks > 0) {
    const double per_tenant_rate =
        static_cast<double>(std::max<long long>(1, w.devices_per_customer)) * r.phone_rate.value;
    const double seconds = static_cast<double>(w.peak_pending_tasks) / per_tenant_rate;
    if (w.devices_per_customer == 0) {
      plan.warnings.push_back("broadcasts: devices_per_customer is 0, so nothing can send");
    }
    plan.warnings.push_back(fmt::format(
        "broadcast backlog of {} tasks takes {} at {} msg/s per phone × {} device(s) of one "
        "tenant",
        FormatNumber(static_cast<double>(w.peak_pending_tasks)),
        seconds < 120    ? fmt::format("{:.0f} s", seconds)
        : seconds < 7200 ? fmt::format("{:.1f} min", seconds / 60)
                         : fmt::format("{:.1f} h", seconds / 3600),
        FormatNumber(r.phone_rate.value), std::max<long long>(1, w.devices_per_customer)));
    if (w.peak_pending_tasks > kMetaTiers[0]) {
      long long needed = 0;
      for (long long tier_limit : kMetaTiers) {
        if (w.peak_pending_tasks <= tier_limit) {
          needed = tier_limit;
          break;
        }
      }
      plan.warnings.push_back(fmt::format(
          "Meta messaging limits: reaching {} unique users in 24 h needs the {} business tier "
          "(new numbers start at 250; tiers 250, 2K, 10K, 100K, unlimited)",
          FormatNumber(static_cast<double>(w.peak_pending_tasks)),
          needed == 0 ? std::string("unlimited") : FormatNumber(static_cast<double>(needed))));
    }
    if (static_cast<double>(w.peak_pending_tasks) > r.queue_max_depth.value) {
      plan.warnings.push_back(fmt::format(
          "peak_pending_tasks {} exceeds the default queue depth {}; QUEUE_MAX_DEPTH is raised to "
          "hold it",
          FormatNumber(static_cast<double>(w.peak_pending_tasks)),
          FormatNumber(r.queue_max_depth.value)));
    }
  }
  if (pg_max_connections > 1000 && !t.pgbouncer) {
    plan.warnings.push_back(fmt::format(
        "PostgreSQL max_connections {} is high for one server without a pooler; tier 4 puts "
        "PgBouncer in front",
        FormatNumber(static_cast<double>(pg_max_connections))));
  }
  {
    // Hosts at two providers talk over the public internet (no private network between them).
    const Server* first = nullptr;
    std::string others;
    for (const LayoutRow& row : plan.layout) {
      if (first == nullptr) {
        first = row.server;
      } else if (row.server->provider_id != first->provider_id &&
                 others.find(row.server->provider) == std::string::npos) {
        others += ", ";
        others += row.server->provider;
      }
    }
    if (!others.empty()) {
      // Appended, not formatted: a batch of mixed-provider layouts writes this on most rows.
      std::string& warning = NewWarning(plan);
      warning.reserve(200);
      warning += "the layout spans providers (";
      warning += first->provider;
      warning += others;
      warning +=
          "): traffic between its hosts crosses the public internet (encrypt it, expect more "
          "latency); --provider NAME keeps to one";
    }
  }
  if (w.swap) {
    plan.warnings.push_back(SwapWarning(w, c, plan.demand.swapped_ram > 0, plan.utilization.swap));
  }
  PublishedRangeWarnings(plan, c, options);
}

// docs/capacity-model.md "Cost lines": the servers, the off-host backups (a fixed amount per
// deployment, already in the layout's cost), and the transfer beyond what the servers include.
// Egress leaves from the hosts that talk to WhatsApp and to browsers (those carrying sessions or
// websockets), split evenly over them; each includes its provider's allowance.
void ComputeCostLines(Plan& plan, const Catalog& c, bool notes, Explainer& ex) {
  const Workload& w = plan.workload;
  const Rules& r = c.rules();
  const Tier& t = *plan.tier;
  constexpr double kDaysPerMonth = 365.0 / 12;
  constexpr double kTerabyte = 1e12;
  plan.off_host_backups = OffHostBackups(t, w);
  const double backups = BackupUsd(t, w, r);
  const double servers = plan.monthly_usd - backups;
  const double per_message = r.egress_per_message.value + r.media_egress_per_message.value;
  plan.egress_bytes_month = plan.demand.messages_per_day * kDaysPerMonth * per_message;
  int hosts = 0;
  for (const LayoutRow& row : plan.layout) {
    if (row.spec->carries & (kCarrySessions | kCarryWebsockets)) {
      hosts += row.count;
    }
  }
  double bandwidth = 0;
  double included = 0;
  double over = 0;
  bool unmetered = false;
  const double per_host = hosts > 0 ? plan.egress_bytes_month / hosts : 0;
  for (const LayoutRow& row : plan.layout) {
    if (!(row.spec->carries & (kCarrySessions | kCarryWebsockets))) {
      continue;
    }
    if (row.server->transfer_unmetered) {
      unmetered = true;
      continue;
    }
    included += row.count * row.server->transfer_included_bytes;
    const double beyond = std::max(0.0, per_host - row.server->transfer_included_bytes);
    over += row.count * beyond;
    bandwidth += row.count * beyond / kTerabyte * row.server->transfer_usd_per_tb;
  }
  plan.transfer_included_bytes = included;
  plan.monthly_usd = servers + backups + bandwidth;
  int server_count = 0;
  for (const LayoutRow& row : plan.layout) {
    server_count += row.count;
  }
  // Sized once: the references below must outlive every line's insertion.
  plan.cost_lines.resize(3);
  CostLine& servers_line = plan.cost_lines[0];
  servers_line.item = "servers";
  servers_line.monthly_usd = servers;
  CostLine& backups_line = plan.cost_lines[1];
  backups_line.item = "backups";
  backups_line.monthly_usd = backups;
  CostLine& bandwidth_line = plan.cost_lines[2];
  bandwidth_line.item = "bandwidth";
  bandwidth_line.monthly_usd = bandwidth;
  if (!(notes || ex.on())) {
    return;
  }
  servers_line.note = fmt::format("{} server{} of the layout, volumes included", server_count,
                                  server_count == 1 ? "" : "s");
  const bool tier_default = w.backups.empty();
  backups_line.note =
      plan.off_host_backups
          ? fmt::format(
                "daily backups off the host to a bucket ({}): {} per deployment ({})",
                t.topology == Topology::kK8s ? "CloudNativePG's Barman Cloud" : "pgBackRest",
                FormatUsd(r.backup_usd_month.value),
                tier_default ? fmt::format("tier {}'s default", t.id)
                             : std::string("backups: off-host"))
          : fmt::format(
                "the daily copy stays on the host, in the disk headroom ({}); backups: "
                "off-host adds {}",
                tier_default ? fmt::format("tier {}'s default", t.id)
                             : std::string("backups: local"),
                FormatUsd(r.backup_usd_month.value));
  const std::string egress =
      fmt::format("{} out per month ({} messages/day × {} days × ({} + {} media) per message)",
                  FormatBytes(plan.egress_bytes_month), FormatNumber(plan.demand.messages_per_day),
                  FormatNumber(kDaysPerMonth, 1), FormatBytes(r.egress_per_message.value),
                  FormatBytes(r.media_egress_per_message.value));
  if (hosts == 0) {
    bandwidth_line.note = egress + "; no host of the layout serves it";
  } else if (over > 0) {
    bandwidth_line.note = fmt::format("{}, {} per host over {} hosts: {} beyond what they include",
                                      egress, FormatBytes(per_host), hosts, FormatBytes(over));
  } else {
    bandwidth_line.note =
        unmetered && included == 0
            ? fmt::format("{}: the provider does not meter the {} transfer", egress,
                          hosts == 1 ? "host's" : "hosts'")
            : fmt::format("{}: within the {}{} the {} host{} include{}", egress,
                          FormatBytes(included), unmetered ? " (and unmetered)" : "", hosts,
                          hosts == 1 ? "" : "s", hosts == 1 ? "s" : "");
  }
  for (const CostLine& line : plan.cost_lines) {
    EXPLAIN(ex, fmt::format("cost: {}", line.item), FormatUsd(line.monthly_usd), "{}", line.note);
  }
}

}  // namespace

double Utilization::Max() const {
  return std::max({ram, disk, cpu, swap});
}

std::string_view ZoneName(Zone z) {
  switch (z) {
    case Zone::kGreen:
      return "green";
    case Zone::kYellow:
      return "yellow";
    case Zone::kRed:
      return "red";
  }
  return "?";
}

std::string_view SearchName(Search s) {
  switch (s) {
    case Search::kAuto:
      return "auto";
    case Search::kCatalog:
      return "catalog";
    case Search::kReference:
      return "reference";
  }
  return "?";
}

Workload ReferenceWorkload(const Tier& tier) {
  Workload w;
  w.customers = tier.max_customers > 0 ? tier.max_customers : tier.min_customers * 2;
  if (tier.max_messages_per_day > 0 && w.customers > 0) {
    w.messages_per_customer_day =
        std::min<long long>(w.messages_per_customer_day, tier.max_messages_per_day / w.customers);
  }
  w.ha = tier.ha;
  return w;
}

bool IsPostgresSizeSetting(std::string_view name) {
  return name == "shared_buffers" || name == "effective_cache_size" ||
         name == "maintenance_work_mem" || name == "work_mem" || name == "wal_buffers" ||
         name == "min_wal_size" || name == "max_wal_size";
}

Plan MakePlan(const Workload& workload, const Catalog& catalog, const PlanOptions& options) {
  Plan plan;
  MakePlan(workload, catalog, options, plan);
  return plan;
}

void MakePlan(const Workload& workload, const Catalog& catalog, const PlanOptions& options,
              Plan& plan, PlanMemo* memo) {
  // Reuse the vectors' capacity: batch plans a million rows into one Plan per thread.
  // `workload` may be plan.workload itself (batch parses rows straight into it): assigning an
  // object to itself leaves it as it is, and nothing below reads `workload` again.
  plan.workload = workload;
  plan.providers.clear();
  plan.prefer.clear();
  plan.tier = nullptr;
  plan.layout.clear();
  plan.utilization = Utilization{};
  plan.zone = Zone::kGreen;
  plan.knobs.clear();
  plan.postgres.clear();
  plan.monthly_usd = 0;
  plan.growth.rate_per_month = 0;
  plan.growth.months_until_upgrade.reset();
  plan.growth.upgrade_reason.clear();
  plan.growth.projection.clear();
  plan.growth.triggers.clear();
  plan.growth.not_modelled.clear();
  plan.growth.first_trigger.clear();
  plan.growth.first_trigger_customers = 0;
  plan.growth.first_trigger_month.reset();
  plan.cost_lines.clear();
  plan.off_host_backups = false;
  plan.egress_bytes_month = 0;
  plan.transfer_included_bytes = 0;
  plan.revenue.reset();
  RecycleWarnings(plan);
  plan.explain.clear();
  const Workload& w = plan.workload;
  const Rules& r = catalog.rules();
  const Engine& engine = *catalog.FindEngine(w.engine);
  Explainer ex(options.explain ? &plan.explain : nullptr);
  const Unit u = UnitDemand(w, engine, catalog);
  const auto customers = static_cast<double>(w.customers);
  const double target = r.target_utilization.value;

  // Built whole, the rest zero: assigning the figures over a zeroed Demand cleared the whole
  // struct first (a `rep stos` per plan that perf showed).
  const double messages_per_day = customers * static_cast<double>(w.messages_per_customer_day);
  plan.demand =
      Demand{.sessions_ram = u.sessions_ram * customers,
             .websockets_ram = u.websockets_ram * customers,
             .queue_ram = u.queue_ram,
             .buffers_ram = u.buffers_ram * customers,
             .messages_disk = u.messages_disk * customers,
             .sessions_disk = u.sessions_disk * customers,
             .messages_per_day = messages_per_day,
             .peak_messages_per_second = messages_per_day / kSecondsPerDay * w.peak_factor};
  Demand& d = plan.demand;

  // Which servers the roles may use.
  SearchScope scope;
  scope.reference = options.search == Search::kReference ||
                    (options.search == Search::kAuto && options.only_tier != 0);
  plan.search = scope.reference ? Search::kReference : Search::kCatalog;
  if (!options.providers.empty()) {
    scope.allowed = catalog.ProviderMask(options.providers, "--provider");
  }
  scope.preferred = catalog.ProviderMask(options.prefer, "--prefer");
  plan.providers.assign(options.providers.begin(), options.providers.end());
  plan.prefer.assign(options.prefer.begin(), options.prefer.end());

  // Tier: the cheapest layout under the target among the tiers whose envelope's upper bounds
  // hold the workload and whose topology the constraints allow.
  bool any_inside = false;
  // Layouts are built into storage kept per thread and swapped, not copied: batch builds several
  // per row.
  thread_local Layout best;
  thread_local Layout fallback;
  thread_local Layout layout;
  const Tier* best_tier = nullptr;
  const Tier* fallback_tier = nullptr;
  const RoleSpec* unhosted = nullptr;
  const Tier* unhosted_tier = nullptr;
  // First only fitting layouts are sized (most rows fit some tier); when none does, the tiers are
  // sized again in full to find the least bad one.
  bool some_unfit = false;
  const auto choose_tier = [&](bool fits_only) {
    for (const Tier& t : catalog.tiers()) {
      if (InsideEnvelope(t, w.customers, d.messages_per_day)) {
        any_inside = true;
      }
      if (options.only_tier != 0) {
        if (t.id != options.only_tier) {
          continue;
        }
      } else if (!Allowed(t, w)) {
        continue;
      }
      if (options.only_tier == 0 && !UnderEnvelopeMax(t, w.customers, d.messages_per_day)) {
        continue;
      }
      const int regions = t.multi_region ? static_cast<int>(w.regions) : 1;
      const bool bounded = best_tier != nullptr && scope.preferred == 0;
      thread_local std::vector<double> floors;
      if (bounded) {
        // Sizing only adds hosts, bigger servers and volumes: the tier's count of each role's
        // cheapest allowed server is a lower bound, so a tier that cannot beat the best so far
        // needs no layout, and one that can is sized only while it still may.
        const double backups = BackupUsd(t, w, r);
        double floor_cost = backups;
        floors.assign(t.roles.size(), 0.0);
        for (std::size_t i = 0; i < t.roles.size(); ++i) {
          const RoleSpec& spec = t.roles[i];
          if (InLayout(spec, w.replica)) {
            floors[i] = FloorCost(spec.sized_like ? t.roles[spec.sized_like_index] : spec, regions,
                                  catalog, scope);
            floor_cost += floors[i];
          }
        }
        if (floor_cost >= best.cost) {
          continue;
        }
        // The bound is for the roles (the backups line is added after them), a relative 10^-12
        // above the best so that the rounding of sums in another order cannot stop a layout
        // that would have won by the 10^-9 below.
        BuildLayout(t, regions, u, customers, catalog, scope, fits_only, w.replica, memo, layout,
                    floors.data(), best.cost - backups + 1e-12 * std::abs(best.cost));
      } else {
        BuildLayout(t, regions, u, customers, catalog, scope, fits_only, w.replica, memo, layout);
      }
      // The backups line is part of what a tier costs (a fixed amount per deployment).
      layout.cost += BackupUsd(t, w, r);
      if (!layout.hostable) {
        unhosted = layout.unhosted_role;
        unhosted_tier = &t;
        continue;
      }
      if (layout.over_bound) {
        continue;  // cannot beat the best, which stays set
      }
      if (!layout.fits) {
        some_unfit = true;
        continue;
      }
      if (layout.util.Max() <= target + 1e-12) {
        if (best_tier == nullptr || layout.cost < best.cost - 1e-9) {
          best_tier = &t;
          std::swap(best, layout);
        }
      } else if (fallback_tier == nullptr || layout.util.Max() < fallback.util.Max()) {
        fallback_tier = &t;
        std::swap(fallback, layout);
      }
    }
  };
  choose_tier(true);
  if (best_tier == nullptr && some_unfit) {
    any_inside = false;
    unhosted = nullptr;
    unhosted_tier = nullptr;
    choose_tier(false);
  }
  if (best_tier == nullptr) {
    best_tier = fallback_tier;
    std::swap(best, fallback);
  }
  if (best_tier == nullptr) {
    // No tier's envelope holds it (only when a catalog caps every tier): take the largest allowed
    // that the allowed providers can host.
    for (const Tier& t : catalog.tiers()) {
      if (!(options.only_tier != 0 ? t.id == options.only_tier : Allowed(t, w))) {
        continue;
      }
      const int regions = t.multi_region ? static_cast<int>(w.regions) : 1;
      BuildLayout(t, regions, u, customers, catalog, scope, false, w.replica, memo, layout);
      layout.cost += BackupUsd(t, w, r);
      if (layout.hostable) {
        best_tier = &t;
        std::swap(best, layout);
      } else {
        unhosted = layout.unhosted_role;
      }
    }
    if (best_tier == nullptr) {
      if (unhosted != nullptr) {
        throw InputError(
            fmt::format("--provider: no allowed offering can host the {} role ({} needs a {} "
                        "server{})",
                        unhosted->role, unhosted->server,
                        ServerKindName(catalog.servers()[unhosted->server_index].kind),
                        scope.reference ? " of its own provider" : ""),
            "--provider");
      }
      if (options.only_tier == 0) {
        ThrowNoTierAllows(w, catalog);
      }
      throw InputError(fmt::format("tier {}: not in the catalog", options.only_tier));
    }
  }
  plan.tier = best_tier;
  // Swapped, not copied: `best` is storage for the next plan's search, which clears it.
  plan.layout.swap(best.rows);
  plan.utilization = best.util;
  plan.monthly_usd = best.cost;
  const double worst = plan.utilization.Max();
  plan.zone = worst < r.green_below.value ? Zone::kGreen
              : worst <= target + 1e-12   ? Zone::kYellow
                                          : Zone::kRed;

  for (const LayoutRow& row : plan.layout) {
    d.swapped_ram += row.swap_demand * row.count;
    d.services_ram += ServicesRam(*row.spec, *row.server, catalog) * row.count;
    d.total_disk += row.disk_demand * row.count;
    d.cpu_cores += row.cpu_demand * row.count;
  }
  d.total_ram = d.sessions_ram + d.websockets_ram + d.queue_ram + d.buffers_ram + d.services_ram;
  d.engine_base_ram = engine.has_base_ram ? engine.base_ram.value : 0;

  if (ex.on()) {
    const std::string cust = Num(customers);
    EXPLAIN(ex, "sessions RAM", FormatBytes(d.sessions_ram), "{} customers × {} devices × {} ({})",
            cust, w.devices_per_customer, FormatBytes(engine.ram_per_device.value), engine.name);
    if (d.swapped_ram > 0) {
      EXPLAIN(ex, "of which in swap", FormatBytes(d.swapped_ram),
              "per host with swap: what RAM at {:.0f} % cannot hold, at most its slices × {} idle "
              "× ({} − {} idle resident)",
              target * 100, Num(w.idle_share.value_or(r.idle_share.value), 2),
              FormatBytes(engine.ram_per_device.value), FormatBytes(engine.idle_resident.value));
    }
    EXPLAIN(ex, "websocket RAM", FormatBytes(d.websockets_ram), "{} customers × {} tabs × {}", cust,
            w.dashboard_tabs_per_customer, FormatBytes(r.ram_per_websocket.value));
    EXPLAIN(ex, "queue RAM", FormatBytes(d.queue_ram), "{} pending tasks × {}",
            Num(static_cast<double>(w.peak_pending_tasks)), FormatBytes(r.bytes_per_task.value));
    EXPLAIN(ex, "buffer RAM", FormatBytes(d.buffers_ram), "{} customers × {}", cust,
            FormatBytes(BufferPerCustomer(engine, r)));
    std::string services;
    for (const LayoutRow& row : plan.layout) {
      const double per_host = ServicesRam(*row.spec, *row.server, catalog);
      if (per_host > 0) {
        services += fmt::format("{}{} {} × {}", services.empty() ? "" : " + ", row.count,
                                row.spec->role, FormatBytes(per_host));
      }
    }
    EXPLAIN(ex, "services RAM", FormatBytes(d.services_ram), "{}",
            services.empty() ? "0" : services);
    if (engine.has_base_ram) {
      EXPLAIN(ex, "of which the runtime's base", FormatBytes(d.engine_base_ram),
              "engine {}: gateway, PostgreSQL's own processes, the warm slice (no OS)",
              engine.name);
    }
    EXPLAIN(ex, "total RAM", FormatBytes(d.total_ram), "{} + {} + {} + {} + {}",
            FormatBytes(d.sessions_ram), FormatBytes(d.websockets_ram), FormatBytes(d.queue_ram),
            FormatBytes(d.buffers_ram), FormatBytes(d.services_ram));
    EXPLAIN(ex, "messages per day", Num(d.messages_per_day), "{} customers × {} messages", cust,
            w.messages_per_customer_day);
    EXPLAIN(ex, "message storage", FormatBytes(d.messages_disk),
            "{} messages/day × {} days retention × {}", Num(d.messages_per_day), w.retention_days,
            FormatBytes(DiskPerMessage(engine, r)));
    double copies = 0;
    double system_disk = 0;
    double services_cpu = 0;
    for (const LayoutRow& row : plan.layout) {
      if (row.spec->carries & kCarryMessages) {
        copies += row.spec->split ? 1 : row.count;
      }
      system_disk += row.spec->services_disk * row.count;
      services_cpu += row.spec->services_cpu * row.count;
    }
    if (d.sessions_disk > 0) {
      EXPLAIN(ex, "session files", FormatBytes(d.sessions_disk), "{} devices × {} ({})",
              Num(customers * static_cast<double>(w.devices_per_customer)),
              FormatBytes(catalog.FindEngine(w.engine)->disk_per_device.value), w.engine);
    }
    EXPLAIN(ex, "total disk", FormatBytes(d.total_disk),
            "{} messages × (1 + {} headroom for indexes, WAL, backups) × {} cop{}{} + {} hosts' "
            "system disk",
            FormatBytes(d.messages_disk), Num(r.disk_headroom.value, 2), Num(copies),
            copies == 1 ? "y" : "ies",
            d.sessions_disk > 0 ? fmt::format(" + {} session files", FormatBytes(d.sessions_disk))
                                : std::string(),
            FormatBytes(system_disk));
    EXPLAIN(ex, "peak message rate", fmt::format("{} msg/s", Num(d.peak_messages_per_second, 4)),
            "{} messages/day ÷ 86,400 s × peak factor {}", Num(d.messages_per_day),
            Num(w.peak_factor, 2));
    EXPLAIN(ex, "CPU", fmt::format("{} cores", Num(d.cpu_cores, 3)),
            "{} msg/s × {} core-s per message + {} devices × {} cores ({}) + {} cores hosts' "
            "services",
            Num(d.peak_messages_per_second, 4), Num(CpuPerMessage(engine, r), 6),
            Num(customers * static_cast<double>(w.devices_per_customer)),
            Num(engine.cpu_per_device.value, 4), engine.name, Num(services_cpu, 2));
    EXPLAIN(ex, "tier", fmt::format("{} ({})", plan.tier->id, plan.tier->name),
            "the cheapest layout with every host at or under {:.0f} % among the tiers allowed "
            "(ha: {}, regions: {}) whose envelope holds {} customers and {} messages/day; servers: "
            "{}",
            target * 100, w.ha ? "yes" : "no", w.regions, cust, Num(d.messages_per_day),
            plan.search == Search::kReference
                ? "the tier's reference or a larger offering of its provider"
                : "every offering of every allowed provider, cheapest first");
    for (const LayoutRow& row : plan.layout) {
      EXPLAIN(
          ex, fmt::format("{} host", row.spec->role),
          fmt::format("{} × {} = {}/month", row.count, row.server->name,
                      FormatUsd(row.monthly_usd)),
          "needs RAM {} of {} ({:.0f} %), CPU {} of {} ({:.0f} %), disk {} of {} ({:.0f} %){}{}",
          FormatBytes(row.ram_demand), FormatBytes(row.server->ram_bytes), row.ram_util * 100,
          Num(row.cpu_demand, 2), Num(row.server->vcpu), row.cpu_util * 100,
          FormatBytes(row.disk_demand), FormatBytes(row.disk_bytes()), row.disk_util * 100,
          row.volume_bytes > 0 ? fmt::format(" with a {} volume", FormatBytes(row.volume_bytes))
                               : std::string(),
          row.spec->sized_like
              ? fmt::format("; sized as {}, whose load it must carry after a failover",
                            row.spec->sized_like_role)
          : row.runner_up != nullptr
              ? fmt::format("; runner-up {} × {} = {}", row.runner_up_count, row.runner_up->name,
                            FormatUsd(row.runner_up_usd))
              : std::string("; no other offering fits"));
    }
    EXPLAIN(ex, "zone", std::string(ZoneName(plan.zone)),
            "busiest resource {:.0f} %: green < {:.0f} % ≤ yellow ≤ {:.0f} % < red", worst * 100,
            r.green_below.value * 100, target * 100);
  }
  ComputeCostLines(plan, catalog, options.reasons, ex);
  EXPLAIN(ex, "monthly cost", FormatUsd(plan.monthly_usd), "servers {} + backups {} + bandwidth {}",
          FormatUsd(plan.cost_lines[0].monthly_usd), FormatUsd(plan.cost_lines[1].monthly_usd),
          FormatUsd(plan.cost_lines[2].monthly_usd));

  plan.knobs.reserve(24);
  plan.postgres.reserve(24);
  // The settings are on whenever their arithmetic is explained.
  const long long pg_max_connections =
      ComputeKnobs(plan, u, catalog, engine, options.settings || options.explain, ex);
  ComputeGrowth(plan, u, catalog, options,
                best.regions == static_cast<int>(w.regions) ? &best.loads : nullptr, ex);

  ComputeRevenue(plan, catalog, options, ex);
  AddWarnings(plan, catalog, any_inside, pg_max_connections, options);
  if (unhosted_tier != nullptr && unhosted != nullptr && unhosted_tier != plan.tier) {
    plan.warnings.push_back(fmt::format(
        "tier {} ({}) is out of reach: no allowed provider offers a {} server for its {} role",
        unhosted_tier->id, unhosted_tier->name,
        ServerKindName(catalog.servers()[unhosted->server_index].kind), unhosted->role));
  }
}

}  // namespace crm::planner

namespace crm::planner {

Capacity ComputeCapacity(const std::string& server_name, const Workload& workload,
                         const Catalog& catalog) {
  const Server* server = catalog.FindServer(server_name);
  if (server == nullptr) {
    std::string names;
    for (const Server& s : catalog.servers()) {
      names += names.empty() ? s.name : ", " + s.name;
    }
    throw InputError(
        fmt::format("--server: unknown server '{}' (expected one of: {})", server_name, names));
  }
  if (server->kind != ServerKind::kVm) {
    throw InputError(fmt::format(
        "--server: {} is a {} offering; capacity is computed for servers that run crmd (kind vm)",
        server->name, ServerKindName(server->kind)));
  }
  // The host is built like the first single-host tier's `all` role: every service co-located.
  const RoleSpec* role = nullptr;
  for (const Tier& t : catalog.tiers()) {
    if (t.topology == Topology::kSingle && !t.roles.empty()) {
      role = &t.roles.front();
      break;
    }
  }
  if (role == nullptr) {
    throw InputError("catalog: capacity needs a single-host tier to model the host");
  }
  Capacity cap;
  cap.server = server;
  cap.workload = workload;
  const Unit u = UnitDemand(workload, *catalog.FindEngine(workload.engine), catalog);
  const HostLoad load = LoadPerHost(*role, *server, 1, 1, u, catalog);
  const double target = catalog.rules().target_utilization.value;
  // With --swap on a server with swap, RAM counts idle slices at their idle resident size and
  // "RAM + swap" must hold the whole footprint (RamSlope, SwapSlope).
  const Linear ram{load.ram.fixed, RamSlope(load, *server)};
  const bool swapping = load.swap.slope > 0;
  const struct {
    const char* name;
    const Linear* l;
    double capacity;
  } resources[] = {{"RAM", &ram, server->ram_bytes},
                   {"CPU", &load.cpu, server->vcpu},
                   {"disk", &load.disk, server->disk_bytes},
                   {"RAM + swap", &load.ram, server->ram_bytes + server->swap_bytes}};
  bool first = true;
  bool first_max = true;
  for (const auto& res : resources) {
    if (res.l == &load.ram && !swapping) {
      continue;  // a resource only when --swap puts idle slices' pages there
    }
    if (res.capacity <= 0) {
      cap.notes.push_back(fmt::format("{} has no local {}: attach a volume; {} is not counted",
                                      server->name, res.name, res.name));
      continue;
    }
    ResourceCapacity rc;
    rc.resource = res.name;
    rc.capacity = res.capacity;
    rc.fixed = res.l->fixed;
    rc.per_customer = res.l->slope;
    if (res.l->slope <= 0) {
      rc.unlimited = true;
    } else {
      rc.max_customers = std::max<long long>(
          0, static_cast<long long>(std::floor((res.capacity - res.l->fixed) / res.l->slope)));
      rc.comfortable_customers = std::max<long long>(
          0, static_cast<long long>(
                 std::floor((target * res.capacity - res.l->fixed) / res.l->slope)));
    }
    if (!rc.unlimited && (first || rc.comfortable_customers < cap.comfortable_customers)) {
      cap.comfortable_customers = rc.comfortable_customers;
      cap.binding_resource = rc.resource;
      first = false;
    }
    if (!rc.unlimited && (first_max || rc.max_customers < cap.max_customers)) {
      cap.max_customers = rc.max_customers;
      first_max = false;
    }
    if (res.l->fixed > (rc.unlimited ? res.capacity : target * res.capacity)) {
      cap.notes.push_back(fmt::format(
          "{}: the shared services alone ({}) exceed {:.0f} % of {}", res.name,
          res.name[0] == 'C' ? FormatNumber(res.l->fixed, 2) : FormatBytes(res.l->fixed),
          target * 100, server->name));
    }
    cap.resources.push_back(rc);
  }
  // The slice cap: a count, the same at 100 % and at the target (docs/capacity-model.md
  // "Slice cap").
  if (const double slice_cap = catalog.rules().max_slices_per_host.value; slice_cap > 0) {
    const auto limit = static_cast<long long>(slice_cap);
    if (first || limit < cap.comfortable_customers) {
      cap.comfortable_customers = limit;
      cap.binding_resource = "slice cap";
      first = false;
    }
    if (first_max || limit < cap.max_customers) {
      cap.max_customers = limit;
      first_max = false;
    }
  }
  if (first) {
    cap.notes.push_back("no resource grows with customers under these assumptions");
  }
  if (workload.swap) {
    const double swap_util =
        swapping
            ? SwappedOut(load, *server, static_cast<double>(cap.comfortable_customers), target) /
                  server->swap_bytes
            : 0;
    cap.notes.push_back(SwapWarning(workload, catalog, swapping, swap_util));
  }
  cap.max_devices = cap.max_customers * workload.devices_per_customer;
  cap.comfortable_devices = cap.comfortable_customers * workload.devices_per_customer;
  return cap;
}

}  // namespace crm::planner
