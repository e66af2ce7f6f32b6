// crmctl plan: size one workload (flags and/or -f workload.yaml), or a CSV of prospects.
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>

#include "cli_context.hpp"
#include "crm/error.hpp"
#include "crm/planner/plan.hpp"
#include "crm/planner/report.hpp"
#include "crm/planner/workload.hpp"

namespace crm::cli {
namespace {

struct PlanOptions {
  std::string workload_file;
  std::map<std::string, std::string> fields;  // workload key → text from its flag
  bool ha = false;
  bool explain = false;
};

std::string FlagName(std::string_view key) {
  std::string flag(key);
  for (char& c : flag) {
    if (c == '_') {
      c = '-';
    }
  }
  return "--" + flag;
}

void RunPlan(const PlanOptions& opts, GlobalOptions& global) {
  const planner::Catalog catalog = LoadCatalog(global);
  planner::Workload workload;
  if (!opts.workload_file.empty()) {
    workload = planner::ParseWorkloadYaml(ReadInputFile(opts.workload_file), opts.workload_file);
  }
  for (const auto& [key, value] : opts.fields) {
    try {
      planner::SetWorkloadField(workload, key, value);
    } catch (const InputError& e) {
      throw InputError(fmt::format("{}: {}", FlagName(key), e.what()));
    }
  }
  if (opts.ha) {
    workload.ha = true;
  }
  if (workload.customers < 0) {
    throw InputError(
        "customers: required: pass --customers N or a workload file with `customers:` (-f)");
  }
  planner::ValidateWorkload(workload, catalog);
  const planner::Plan plan =
      planner::MakePlan(workload, catalog, planner::PlanOptions{.explain = opts.explain});
  const planner::OutputFormat format = OutputFormatOr(global, planner::OutputFormat::kTable);
  switch (format) {
    case planner::OutputFormat::kJson:
    case planner::OutputFormat::kYaml: {
      nlohmann::ordered_json doc = planner::PlanToJson(plan);
      if (opts.explain) {
        nlohmann::ordered_json lines = nlohmann::ordered_json::array();
        for (const planner::ExplainLine& line : plan.explain) {
          lines.push_back(
              {{"figure", line.figure}, {"arithmetic", line.arithmetic}, {"result", line.result}});
        }
        doc["explain"] = lines;
      }
      PrintDocument(doc, format);
      break;
    }
    case planner::OutputFormat::kCsv: {
      std::string out;
      planner::AppendPlanCsvHeader(out);
      planner::AppendPlanCsvRow(out, plan);
      std::cout << out;
      break;
    }
    case planner::OutputFormat::kMarkdown:
      std::cout << planner::PlanToMarkdown(plan);
      if (opts.explain) {
        std::cout << "\n```\n" << planner::ExplainToText(plan) << "```\n";
      }
      break;
    case planner::OutputFormat::kTable:
      if (opts.explain) {
        std::cout << planner::ExplainToText(plan) << '\n';
      }
      std::cout << planner::PlanToTable(plan, UseColor(global, STDOUT_FILENO));
      break;
  }
}

}  // namespace

void SetupPlan(CLI::App& app, GlobalOptions& global) {
  auto opts = std::make_shared<PlanOptions>();
  CLI::App* cmd = app.add_subcommand(
      "plan", "Size a workload: demand, tier, layout, knobs, PostgreSQL settings, cost, growth");
  cmd->add_option("-f,--file", opts->workload_file, "workload.yaml (flags override its keys)");
  struct Flag {
    const char* key;
    const char* help;
  };
  static const Flag kFlags[] = {
      {"customers", "Tenants (businesses) to serve (required)"},
      {"devices_per_customer", "WhatsApp numbers per customer (default 2)"},
      {"messages_per_customer_day", "Messages sent + received per customer per day (default 100)"},
      {"dashboard_tabs_per_customer", "Open dashboard tabs = websockets per customer (default 2)"},
      {"peak_pending_tasks", "Largest queued broadcast backlog at once (default 0)"},
      {"retention_days", "Days messages are kept (default 365)"},
      {"engine", "whatsmeow, noweb, webjs or cloud-api (default whatsmeow)"},
      {"growth_per_month", "Compound growth, 0.2 = 20 %/month (default 0)"},
      {"horizon_months", "Projection length in months (default 12)"},
      {"peak_factor", "Peak message rate ÷ average (default 10)"},
      {"price_per_customer_month", "USD per customer per month: adds revenue and break-even"},
      {"regions", "Regions (data residency); > 1 needs the Kubernetes tier (default 1)"},
  };
  for (const Flag& flag : kFlags) {
    const std::string key = flag.key;
    cmd->add_option_function<std::string>(
        FlagName(key), [opts, key](const std::string& value) { opts->fields[key] = value; },
        flag.help);
  }
  cmd->add_flag("--ha", opts->ha, "Require high availability (replica + 2 app hosts)");
  cmd->add_flag("--explain", opts->explain, "Print every figure's arithmetic");
  cmd->callback([opts, &global]() { RunPlan(*opts, global); });
}

}  // namespace crm::cli
