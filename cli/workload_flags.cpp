#include "workload_flags.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "cli_context.hpp"
#include "crm/error.hpp"
#include "crm/yaml_source.hpp"

namespace crm::cli {

std::string FlagName(std::string_view key) {
  std::string flag(key);
  for (char& c : flag) {
    c = c == '_' ? '-' : c;
  }
  return "--" + flag;
}

namespace {

struct Flag {
  std::string_view key;
  const char* help;
};

constexpr Flag kFlags[] = {
    {"customers", "Tenants (businesses) to serve (required)"},
    {"devices_per_customer", "WhatsApp numbers per customer (default 2)"},
    {"messages_per_customer_day", "Messages sent + received per customer per day (default 100)"},
    {"dashboard_tabs_per_customer", "Open dashboard tabs = websockets per customer (default 2)"},
    {"peak_pending_tasks", "Largest queued broadcast backlog at once (default 0)"},
    {"retention_days", "Days messages are kept (default 365)"},
    {"engine", "whatsmeow, noweb, webjs, cloud-api or crmd (default whatsmeow)"},
    {"growth_per_month", "Compound growth, 0.2 = 20 %/month (default 0)"},
    {"horizon_months", "Projection length in months (default 12)"},
    {"peak_factor", "Peak message rate ÷ average (default 10)"},
    {"price_per_customer_month", "USD per customer per month: adds revenue and break-even"},
    {"price_plan", "A price plan of the catalog's pricing.yaml instead (`crmctl tiers pricing`)"},
    {"coupon", "A coupon on that price, e.g. launch50 (figures for its discounted months)"},
    {"regions", "Regions (data residency); > 1 needs the Kubernetes tier (default 1)"},
    {"idle_share", "With --swap: share of slices idle at once, 0..1 (default: rules idle_share)"},
    {"backups",
     "off-host (a daily backup off the host, +rules backup_usd_month) or local (default: the "
     "tier's; tiers 3-5 off-host)"},
};

}  // namespace

void AddWorkloadKeyFlags(CLI::App* cmd, const std::shared_ptr<WorkloadFlags>& flags,
                         const std::vector<std::string_view>& keys) {
  for (const Flag& flag : kFlags) {
    if (std::find(keys.begin(), keys.end(), flag.key) == keys.end()) {
      continue;
    }
    const std::string key(flag.key);
    cmd->add_option_function<std::string>(
        FlagName(key), [flags, key](const std::string& value) { flags->fields[key] = value; },
        flag.help);
  }
}

void AddWorkloadFlags(CLI::App* cmd, const std::shared_ptr<WorkloadFlags>& flags) {
  cmd->add_option("-f,--file", flags->file,
                  "workload.yaml, or a plan written by `crmctl plan -o yaml|json` (flags override "
                  "its keys)");
  std::vector<std::string_view> all;
  for (const Flag& flag : kFlags) {
    all.push_back(flag.key);
  }
  AddWorkloadKeyFlags(cmd, flags, all);
  cmd->add_flag("--ha", flags->ha, "Require high availability (replica + 2 app hosts)");
  cmd->add_flag("--replica", flags->replica,
                "Add a PostgreSQL read replica sized like the primary (tier 3's opt-in; tier 4 has "
                "one)");
  AddSwapFlag(cmd, flags);
}

void AddSwapFlag(CLI::App* cmd, const std::shared_ptr<WorkloadFlags>& flags) {
  cmd->add_flag("--swap", flags->swap,
                "Count idle slices at their idle resident size and the rest in swap "
                "(overcommitment; docs/capacity-model.md \"Swap\")");
}

void ApplyWorkloadFields(const WorkloadFlags& flags, planner::Workload& workload) {
  // A price given on the command line replaces the file's, whichever way it was given.
  const bool own_price = flags.fields.count("price_per_customer_month") != 0;
  const bool plan_price = flags.fields.count("price_plan") != 0;
  if (own_price && !plan_price) {
    workload.price_plan.clear();
  } else if (plan_price && !own_price) {
    workload.price_per_customer_month.reset();
  }
  for (const auto& [key, value] : flags.fields) {
    try {
      planner::SetWorkloadField(workload, key, value);
    } catch (const InputError& e) {
      throw InputError(fmt::format("{}: {}", FlagName(key), e.what()));
    }
  }
  if (flags.swap) {
    workload.swap = true;
  }
  if (flags.replica) {
    workload.replica = true;
  }
}

planner::Workload BuildWorkload(const WorkloadFlags& flags, const planner::Catalog& catalog) {
  planner::Workload workload;
  if (!flags.file.empty()) {
    const std::string text = ReadInputFile(flags.file);
    // A plan document carries its inputs under `workload:`; JSON is YAML too.
    const YAML::Node root = crm::ParseYaml(text, flags.file);
    if (root.IsMap() && root["workload"]) {
      YAML::Emitter out;
      YAML::Node inputs = YAML::Clone(root["workload"]);
      inputs.remove("name");
      if (inputs["price_per_customer_month"] && inputs["price_per_customer_month"].IsNull()) {
        inputs.remove("price_per_customer_month");
      }
      out << inputs;
      workload = planner::ParseWorkloadYaml(out.c_str(), flags.file + " (workload)");
    } else {
      workload = planner::ParseWorkloadYaml(text, flags.file);
    }
  }
  ApplyWorkloadFields(flags, workload);
  if (flags.ha) {
    workload.ha = true;
  }
  if (workload.customers < 0) {
    throw InputError(
        "customers: required: pass --customers N or a workload file with `customers:` (-f)");
  }
  planner::ValidateWorkload(workload, catalog);
  return workload;
}

void SearchFromPlanFile(const std::string& file, planner::PlanOptions& options) {
  if (file.empty()) {
    return;
  }
  const YAML::Node root = crm::ParseYaml(ReadInputFile(file), file);
  if (!root.IsMap() || !root["workload"] || !root["search"]) {
    return;
  }
  const YAML::Node search = root["search"];
  if (!search.IsMap()) {
    crm::FailAt(file, search, "search: expected a mapping (servers, providers, prefer)");
  }
  if (const YAML::Node servers = search["servers"]) {
    const std::string mode = crm::ScalarString(file, servers, "search.servers");
    if (mode == "catalog") {
      options.search = planner::Search::kCatalog;
    } else if (mode == "reference") {
      options.search = planner::Search::kReference;
    } else {
      crm::FailAt(
          file, servers,
          fmt::format("search.servers: unknown '{}' (expected catalog or reference)", mode));
    }
  }
  for (const auto& [key, list] :
       {std::pair{"providers", &options.providers}, std::pair{"prefer", &options.prefer}}) {
    const YAML::Node names = search[key];
    if (!names) {
      continue;
    }
    if (!names.IsSequence()) {
      crm::FailAt(file, names, fmt::format("search.{}: expected a list of provider names", key));
    }
    list->clear();
    for (const auto& name : names) {
      list->push_back(crm::ScalarString(file, name, key));
    }
  }
}

}  // namespace crm::cli
