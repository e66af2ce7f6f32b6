// Workload flags shared by plan and render: one flag per workload key, plus -f and --ha.
#pragma once

#include <CLI/CLI.hpp>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "crm/planner/catalog.hpp"
#include "crm/planner/plan.hpp"
#include "crm/planner/workload.hpp"

namespace crm::cli {

struct WorkloadFlags {
  std::string file;                           // -f workload.yaml (or a plan from `plan -o yaml`)
  std::map<std::string, std::string> fields;  // workload key → text from its flag
  bool ha = false;
  bool swap = false;
  bool replica = false;
  bool Given() const { return !file.empty() || !fields.empty() || ha || swap || replica; }
};

/// Adds -f/--file, --customers … --regions, --ha and --swap to `cmd`.
void AddWorkloadFlags(CLI::App* cmd, const std::shared_ptr<WorkloadFlags>& flags);

/// Adds --swap (workload key `swap`): plan and capacity count idle slices in swap.
void AddSwapFlag(CLI::App* cmd, const std::shared_ptr<WorkloadFlags>& flags);

/// Adds the flags of only these workload keys (e.g. capacity's per-customer assumptions).
void AddWorkloadKeyFlags(CLI::App* cmd, const std::shared_ptr<WorkloadFlags>& flags,
                         const std::vector<std::string_view>& keys);

/// Sets the fields the flags gave on `workload`. Throws InputError naming the flag.
void ApplyWorkloadFields(const WorkloadFlags& flags, planner::Workload& workload);

/// The workload the flags describe, validated. Throws InputError naming the flag or file:line:col.
planner::Workload BuildWorkload(const WorkloadFlags& flags, const planner::Catalog& catalog);

/// The server search a plan document given with -f was made with (its `search:` key: servers,
/// providers, prefer), so that rendering or applying it reproduces its layout. Leaves `options`
/// alone for a workload file or a plan without the key. Throws InputError naming the file.
void SearchFromPlanFile(const std::string& file, planner::PlanOptions& options);

/// "--devices-per-customer" for "devices_per_customer".
std::string FlagName(std::string_view key);

}  // namespace crm::cli
