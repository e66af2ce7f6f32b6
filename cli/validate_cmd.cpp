// crmctl validate: structural rules plus the real tools on rendered configurations.
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <memory>

#include "cli_context.hpp"
#include "crm/error.hpp"
#include "crm/planner/plan.hpp"
#include "crm/render/render.hpp"
#include "crm/render/write.hpp"
#include "crm/validate/validate.hpp"

namespace crm::cli {
namespace {

namespace fs = std::filesystem;

struct ValidateOptions {
  std::vector<std::string> dirs;
  bool all_tiers = false;
  bool require_tools = false;
};

// --all-tiers: every tier rendered for every target that fits it, into `base`.
std::vector<fs::path> RenderAllTiers(const planner::Catalog& catalog, const fs::path& base) {
  std::vector<fs::path> dirs;
  for (const planner::Tier& tier : catalog.tiers()) {
    planner::PlanOptions plan_options;
    plan_options.only_tier = tier.id;
    const planner::Plan plan =
        planner::MakePlan(planner::ReferenceWorkload(tier), catalog, plan_options);
    for (render::RenderTarget target : render::TargetsFor(tier)) {
      render::RenderOptions render_options;
      render_options.version = CRM_VERSION;
      const fs::path out =
          base / fmt::format("tier{}-{}", tier.id, render::RenderTargetName(target));
      render::WriteRendering(out, plan, render::Render(plan, target, render_options),
                             render_options, false);
      dirs.push_back(out);
    }
  }
  return dirs;
}

std::vector<validate::DirReport> ValidateAll(const ValidateOptions& opts,
                                             const GlobalOptions& global) {
  std::vector<validate::DirReport> reports;
  for (const std::string& d : opts.dirs) {
    reports.push_back(validate::ValidateDir(d));
  }
  if (opts.all_tiers) {
    const planner::Catalog catalog = LoadCatalog(global);
    char tmpl[] = "/tmp/crmctl-tiers-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      throw RuntimeError("cannot create a scratch directory in /tmp");
    }
    const fs::path base(tmpl);
    for (const fs::path& dir : RenderAllTiers(catalog, base)) {
      reports.push_back(validate::ValidateDir(dir));
    }
    std::error_code ec;
    fs::remove_all(base, ec);
  }
  return reports;
}

void RunValidate(const ValidateOptions& opts, GlobalOptions& global) {
  if (opts.dirs.empty() && !opts.all_tiers) {
    throw InputError("validate: pass rendered directories, or --all-tiers");
  }
  std::vector<validate::DirReport> reports = ValidateAll(opts, global);
  std::size_t findings = 0;
  int skipped = 0;
  const auto format = OutputFormatOr(global, planner::OutputFormat::kTable);
  const bool document =
      format == planner::OutputFormat::kJson || format == planner::OutputFormat::kYaml;
  nlohmann::ordered_json doc = nlohmann::ordered_json::array();
  for (validate::DirReport& r : reports) {
    if (opts.require_tools) {
      validate::RequireTools(r);
    }
    findings += r.findings.size();
    for (const validate::ToolReport& t : r.tools) {
      skipped += t.status == validate::ToolStatus::kSkipped ? 1 : 0;
    }
    if (document) {
      doc.push_back(validate::ReportJson(r));
    } else {
      std::cout << validate::FormatReport(r, global.quiet);
    }
  }
  if (document) {
    PrintDocument(doc, format);
  } else {
    std::cout << fmt::format("{} director{} validated: {} finding(s), {} tool check(s) skipped\n",
                             reports.size(), reports.size() == 1 ? "y" : "ies", findings, skipped);
  }
  if (findings > 0) {
    global.exit_code = 1;
  }
}

}  // namespace

void SetupValidate(CLI::App& app, GlobalOptions& global) {
  auto opts = std::make_shared<ValidateOptions>();
  CLI::App* cmd = app.add_subcommand(
      "validate",
      "Check rendered configurations: structural rules and the real tools (nginx -t, promtool, "
      "postgres -C, pgbouncer, systemd-analyze, docker-compose, kubernetes-models). Exit 1 on any "
      "finding, 2 on bad usage");
  cmd->add_option("dirs", opts->dirs, "Directories written by crmctl render");
  cmd->add_flag("--all-tiers", opts->all_tiers,
                "Render every tier for every target that fits it and validate each");
  cmd->add_flag("--require-tools", opts->require_tools,
                "A tool that is not installed is a finding, not a skip (CI)");
  cmd->callback([opts, &global]() { RunValidate(*opts, global); });
}

}  // namespace crm::cli
