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
#include "crm/planner/batch.hpp"
#include "crm/planner/history.hpp"
#include "crm/planner/plan.hpp"
#include "crm/planner/report.hpp"
#include "crm/planner/workload.hpp"
#include "workload_flags.hpp"

namespace crm::cli {
namespace {

struct PlanOptions {
  std::shared_ptr<WorkloadFlags> workload = std::make_shared<WorkloadFlags>();
  bool explain = false;
  std::string batch_file;
  bool strict = false;
  unsigned jobs = 0;  // 0: one per hardware thread
  std::string history_file;
  std::vector<std::string> providers;
  std::vector<std::string> prefer;
};

void RunBatch(const PlanOptions& opts, GlobalOptions& global, const planner::Catalog& catalog) {
  if (opts.workload->Given() || opts.explain || !opts.history_file.empty()) {
    throw InputError(
        "--batch: the CSV's columns are the workload; drop -f, workload flags, --explain and "
        "--history");
  }
  planner::BatchOptions options;
  options.format = OutputFormatOr(global, planner::OutputFormat::kCsv);
  if (options.format != planner::OutputFormat::kCsv &&
      options.format != planner::OutputFormat::kJson) {
    throw InputError("-o/--output: --batch writes csv or json (JSON lines)");
  }
  options.strict = opts.strict;
  options.jobs = opts.jobs;
  options.providers = opts.providers;
  options.prefer = opts.prefer;
  // An unknown provider is a usage error before any row is read.
  static_cast<void>(catalog.ProviderMask(opts.providers, "--provider"));
  static_cast<void>(catalog.ProviderMask(opts.prefer, "--prefer"));
  options.progress = !global.quiet && isatty(STDERR_FILENO) == 1;
  std::ifstream file;
  std::istream* in = &std::cin;
  if (opts.batch_file != "-") {
    file.open(opts.batch_file, std::ios::binary);
    if (!file) {
      throw InputError(fmt::format("{}: cannot open the file", opts.batch_file));
    }
    std::error_code ec;
    const auto size = std::filesystem::file_size(opts.batch_file, ec);
    options.total_bytes = ec ? 0 : static_cast<long long>(size);
    in = &file;
  }
  // Plans stream out as they are made; a large buffer keeps writes cheap.
  std::ios::sync_with_stdio(false);
  const planner::BatchResult result =
      planner::RunBatch(*in, opts.batch_file == "-" ? "<stdin>" : opts.batch_file, catalog, options,
                        std::cout, std::cerr);
  std::cout.flush();
  if (!global.quiet) {
    std::cerr << fmt::format("crmctl: planned {} of {} rows", result.planned, result.rows);
    if (result.bad > 0) {
      std::cerr << fmt::format("; {} bad row(s) reported above", result.bad);
    }
    std::cerr << '\n';
  }
  if (result.bad > 0) {
    global.exit_code = 2;
  }
}

void RunPlan(const PlanOptions& opts, GlobalOptions& global) {
  const planner::Catalog catalog = LoadCatalog(global);
  if (!opts.batch_file.empty()) {
    RunBatch(opts, global, catalog);
    return;
  }
  if (opts.strict) {
    throw InputError("--strict: only with --batch");
  }
  if (!opts.history_file.empty() && opts.workload->fields.count("growth_per_month") != 0) {
    throw InputError("--history: fits growth_per_month; do not pass --growth-per-month too");
  }
  planner::Workload workload = BuildWorkload(*opts.workload, catalog);
  std::string history_note;
  if (!opts.history_file.empty()) {
    std::ifstream history(opts.history_file, std::ios::binary);
    if (!history) {
      throw InputError(fmt::format("{}: cannot open the file", opts.history_file));
    }
    const planner::GrowthFit fit = planner::FitGrowthHistory(history, opts.history_file);
    workload.growth_per_month = fit.rate_per_month;
    history_note = fmt::format(
        "growth_per_month {:.4f} fitted from {} ({} months, log-linear least squares, R² {:.3f})",
        fit.rate_per_month, opts.history_file, fit.months, fit.r_squared);
  }
  // One plan per projected month names the tier each month needs (batch leaves it out).
  planner::PlanOptions plan_options{.explain = opts.explain, .projection_tiers = true};
  SearchFromPlanFile(opts.workload->file, plan_options);
  if (!opts.providers.empty()) {
    plan_options.providers = opts.providers;
  }
  if (!opts.prefer.empty()) {
    plan_options.prefer = opts.prefer;
  }
  planner::Plan plan = planner::MakePlan(workload, catalog, plan_options);
  if (!history_note.empty()) {
    plan.warnings.insert(plan.warnings.begin(), history_note);
  }
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
  AddWorkloadFlags(cmd, opts->workload);
  cmd->add_flag("--explain", opts->explain, "Print every figure's arithmetic");
  cmd->add_option("--batch", opts->batch_file,
                  "Plan every row of a prospects CSV (header of workload keys + optional name; "
                  "- for stdin); -o csv (default) or json lines");
  cmd->add_flag("--strict", opts->strict, "With --batch: stop at the first bad row");
  cmd->add_option("--jobs", opts->jobs,
                  "With --batch: planning threads, 1 to 64 (default: one per CPU; 1 plans on the "
                  "main thread; each holds two chunks of rows, ~3.5 MiB); the same output for any")
      ->check(CLI::Range(1U, 64U));
  cmd->add_option("--provider", opts->providers,
                  "Only servers of this provider (repeatable or comma-separated, e.g. "
                  "hetzner,ovh; crmctl tiers servers lists them)")
      ->delimiter(',');
  cmd->add_option("--prefer", opts->prefer,
                  "A fitting server of this provider wins over cheaper ones of others "
                  "(repeatable or comma-separated)")
      ->delimiter(',');
  cmd->add_option("--history", opts->history_file,
                  "CSV of past monthly customer counts (column customers): fits growth_per_month");
  cmd->callback([opts, &global]() { RunPlan(*opts, global); });
}

}  // namespace crm::cli
