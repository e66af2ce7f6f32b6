// crmctl apply, status and destroy: plan/apply semantics over the targets local (the embedded
// default), ssh and k8s. The targets and their driver live in deploy/apply; this file parses,
// chooses the plan, and maps the driver's outcome to exit codes.
#include <fmt/format.h>
#include <stdlib.h>

#include <filesystem>
#include <iostream>
#include <memory>

#include "admin_client.hpp"
#include "cli_context.hpp"
#include "crm/apply/driver.hpp"
#include "crm/apply/k8s_target.hpp"
#include "crm/apply/local_target.hpp"
#include "crm/apply/ssh_target.hpp"
#include "crm/error.hpp"
#include "crm/planner/plan.hpp"
#include "crm/render/render.hpp"
#include "workload_flags.hpp"

namespace crm::cli {
namespace {

namespace fs = std::filesystem;

struct ApplyOptions {
  std::shared_ptr<WorkloadFlags> workload = std::make_shared<WorkloadFlags>();
  int tier = 0;
  std::string target = "local";
  apply::ApplyFlags flags;
  bool detailed_exitcode = false;
  apply::LocalOptions local;
  std::string inventory;
  std::string context;
  std::string image;
  std::string wa_web_image;
};

struct StatusOptions {
  std::string dir;
  std::string target = "local";
};

struct DestroyOptions {
  std::string dir;
  std::string target = "local";
  apply::ApplyFlags flags;
  bool detailed_exitcode = false;
  bool purge = false;
};

// The plan apply converges to: the workload given, else tier N's reference workload, else the
// plan applied last (DIR/plan.json), else tier 1 (the smallest deployment).
// The plan points into `catalog`, which must outlive it.
planner::Plan BuildPlan(const ApplyOptions& opts, const planner::Catalog& catalog) {
  if (opts.tier != 0 && opts.workload->Given()) {
    throw InputError("--tier: deploys the tier's reference workload; drop -f and workload flags");
  }
  planner::PlanOptions plan_options;
  if (opts.workload->Given()) {
    SearchFromPlanFile(opts.workload->file, plan_options);
    return planner::MakePlan(BuildWorkload(*opts.workload, catalog), catalog, plan_options);
  }
  // Nothing given: the plan applied last, so a plain re-apply never changes the tier.
  const fs::path recorded = apply::RecordedPlanPath(opts.local.dir);
  if (opts.tier == 0 && fs::exists(recorded)) {
    WorkloadFlags from_file;
    from_file.file = recorded.string();
    const auto doc = nlohmann::json::parse(ReadInputFile(recorded.string()), nullptr, false);
    if (doc.is_discarded() || !doc.contains("tier") || !doc["tier"].contains("id") ||
        !doc["tier"]["id"].is_number_integer()) {
      throw InputError(
          fmt::format("{}: not a plan written by crmctl (no tier.id); remove it or "
                      "pass -f, workload flags or --tier",
                      recorded.string()));
    }
    plan_options.only_tier = doc["tier"]["id"].get<int>();
    SearchFromPlanFile(from_file.file, plan_options);
    return planner::MakePlan(BuildWorkload(from_file, catalog), catalog, plan_options);
  }
  const int id = opts.tier == 0 ? 1 : opts.tier;
  const planner::Tier* tier = catalog.FindTier(id);
  if (tier == nullptr) {
    throw InputError(
        fmt::format("--tier: no tier {} (the catalog has 1 to {})", id, catalog.tiers().size()));
  }
  plan_options.only_tier = id;
  return planner::MakePlan(planner::ReferenceWorkload(*tier), catalog, plan_options);
}

void AddApprovalFlags(CLI::App* cmd, apply::ApplyFlags& flags, bool& detailed_exitcode) {
  cmd->add_flag("--dry-run", flags.dry_run, "Print the plan and change nothing");
  cmd->add_flag("--detailed-exitcode", detailed_exitcode,
                "Exit 0 when there were no changes, 1 on error, 2 when changes were present");
  cmd->add_flag("--auto-approve", flags.auto_approve,
                "Change without asking (required when stdin is not a terminal)");
}

void CheckTarget(const std::string& target, bool any_apply_target) {
  if (target == "local" || (any_apply_target && (target == "ssh" || target == "k8s"))) {
    return;
  }
  throw InputError(
      fmt::format("--target: '{}' is not available here; {} (see docs/operations.md)", target,
                  any_apply_target ? "apply deploys --target local, ssh or k8s"
                                   : "status and destroy manage --target local deployments"));
}

apply::Console ConsoleOf(const GlobalOptions& global) {
  return {global.quiet, UseColor(global, 1)};
}

// With --detailed-exitcode: 0 no changes, 2 changes present, and every error, input errors
// included, exits 1; without it, errors reach main's usual translation (2 input, 1 runtime).
template <typename Run>
int DetailedExitCode(bool detailed, Run run) {
  if (!detailed) {
    run();
    return 0;
  }
  try {
    return run() == apply::Outcome::kChanges ? 2 : 0;
  } catch (const Error& e) {
    std::cerr << "crmctl: " << e.what() << '\n';
    return 1;
  }
}

std::unique_ptr<apply::DeployTarget> MakeTarget(const ApplyOptions& opts,
                                                const apply::Console& console) {
  if (opts.target == "k8s") {
    if (!opts.image.empty()) {
      render::CheckImageReference(opts.image, "--image");
    }
    if (!opts.wa_web_image.empty()) {
      render::CheckImageReference(opts.wa_web_image, "--wa-web-image");
    }
    return apply::MakeK8sTarget({opts.local.dir, opts.context, opts.image, opts.wa_web_image},
                                console);
  }
  if (opts.target == "ssh") {
    const std::string text = opts.inventory.empty() ? "" : ReadInputFile(opts.inventory);
    return apply::MakeSshTarget({opts.local.dir, opts.inventory, text}, console);
  }
  return apply::MakeLocalTarget(opts.local, console);
}

apply::Outcome RunApply(const ApplyOptions& opts, const GlobalOptions& global) {
  CheckTarget(opts.target, true);
  const planner::Catalog catalog = LoadCatalog(global);
  const planner::Plan plan = BuildPlan(opts, catalog);
  const apply::Console console = ConsoleOf(global);
  const std::unique_ptr<apply::DeployTarget> target = MakeTarget(opts, console);
  return apply::ApplyDriver(console, opts.flags).Apply(*target, plan);
}

// The slices of a running crmd, through its admin API as the deployment's admin.
apply::SliceCounts CountSlices(const apply::AdminAccess& access) {
  ::setenv("CRM_ADMIN_EMAIL", access.email.c_str(), 1);
  ::setenv("CRM_ADMIN_PASSWORD_FILE", access.password_file.c_str(), 1);
  ::unsetenv("CRM_ADMIN_TOKEN");
  AdminClient client(access.url);
  const nlohmann::json answer = client.Call("GET", "/admin/slices");
  apply::SliceCounts counts;
  const nlohmann::json items = answer.value("items", nlohmann::json::array());
  counts.total = items.size();
  for (const auto& s : items) {
    counts.by_state[s.value("state", "?")]++;
  }
  return counts;
}

// 0 when everything runs and is healthy, 1 when not (what is down is named).
int RunStatus(const StatusOptions& opts, const GlobalOptions& global) {
  CheckTarget(opts.target, false);
  const apply::Console console = ConsoleOf(global);
  apply::LocalOptions local;
  local.dir = opts.dir;
  const auto target = apply::MakeLocalTarget(local, console);
  const apply::StatusReport report = apply::ApplyDriver(console, {}).Status(*target, CountSlices);
  const planner::OutputFormat format = OutputFormatOr(global, planner::OutputFormat::kTable);
  if (format == planner::OutputFormat::kJson || format == planner::OutputFormat::kYaml) {
    PrintDocument(report.document, format);
  } else {
    std::cout << report.text;
  }
  return report.healthy ? 0 : 1;
}

apply::Outcome RunDestroy(const DestroyOptions& opts, const GlobalOptions& global) {
  CheckTarget(opts.target, false);
  const apply::Console console = ConsoleOf(global);
  apply::LocalOptions local;
  local.dir = opts.dir;
  const auto target = apply::MakeLocalTarget(local, console);
  return apply::ApplyDriver(console, opts.flags).Destroy(*target, opts.purge);
}

void SetupApplyCommand(CLI::App& app, GlobalOptions& global) {
  auto opts = std::make_shared<ApplyOptions>();
  CLI::App* cmd = app.add_subcommand(
      "apply", "Provision a deployment: render, diff against the recorded state, converge");
  cmd->add_option("--target", opts->target, "local (the embedded default), ssh or k8s");
  cmd->add_option("--context", opts->context, "k8s: the kubeconfig context (default: current)");
  cmd->add_option(
      "--image", opts->image,
      "k8s: crmd's image by tag and digest (default crmd:<version>; scripts/build-image "
      "writes the pinned reference)");
  cmd->add_option("--wa-web-image", opts->wa_web_image,
                  "k8s: the slice hosts' image for engine noweb or webjs, by tag and digest "
                  "(default crmd-wa-web:<version>; scripts/build-image --wa-web writes it)");
  cmd->add_option("--inventory", opts->inventory,
                  "ssh: the inventory file (hosts, address, port, user, key, dir, commands)");
  cmd->add_option("--dir", opts->local.dir,
                  "Deployment directory: its state, lock, configuration, data and logs")
      ->required();
  cmd->add_option("--tier", opts->tier,
                  "Deploy tier N's reference workload (default: the plan applied last, "
                  "DIR/plan.json, else tier 1)");
  AddWorkloadFlags(cmd, opts->workload);
  AddApprovalFlags(cmd, opts->flags, opts->detailed_exitcode);
  cmd->add_option("--port", opts->local.port,
                  "local: crmd's HTTP port on 127.0.0.1 (default: the recorded one, else 8080; "
                  "0 = any free port)");
  cmd->add_option("--pg-port", opts->local.pg_port,
                  "local: PostgreSQL's port (default: the recorded one, else a free one)");
  cmd->add_option("--crmd", opts->local.crmd,
                  "local: the crmd binary (default: next to crmctl, the build tree, PATH)");
  cmd->add_option("--admin-email", opts->local.admin_email,
                  "local: the admin account created on the first apply (admin@crm.local)");
  cmd->add_option("--backup-repo", opts->local.backup_repo,
                  "local: the pgBackRest repository, outside --dir (default: the recorded one, "
                  "else DIR.backups)");
  cmd->add_option("--backup-retention", opts->local.backup_retention_full,
                  "local: full backups kept (default: the recorded number, else 2)");
  cmd->callback([opts, &global]() {
    global.exit_code =
        DetailedExitCode(opts->detailed_exitcode, [&] { return RunApply(*opts, global); });
  });
}

void SetupStatusCommand(CLI::App& app, GlobalOptions& global) {
  auto opts = std::make_shared<StatusOptions>();
  CLI::App* cmd = app.add_subcommand(
      "status",
      "A deployment's processes, health, slices and versions (exit 1 if anything is down)");
  cmd->add_option("--dir", opts->dir, "Deployment directory")->required();
  cmd->add_option("--target", opts->target, "local");
  cmd->callback([opts, &global]() { global.exit_code = RunStatus(*opts, global); });
}

void SetupDestroyCommand(CLI::App& app, GlobalOptions& global) {
  auto opts = std::make_shared<DestroyOptions>();
  CLI::App* cmd =
      app.add_subcommand("destroy", "Stop a deployment; with --purge also delete its data");
  cmd->add_option("--dir", opts->dir, "Deployment directory")->required();
  cmd->add_option("--target", opts->target, "local");
  cmd->add_flag("--purge", opts->purge, "Also remove the directory: database, files, logs, state");
  AddApprovalFlags(cmd, opts->flags, opts->detailed_exitcode);
  cmd->callback([opts, &global]() {
    global.exit_code =
        DetailedExitCode(opts->detailed_exitcode, [&] { return RunDestroy(*opts, global); });
  });
}

}  // namespace

void SetupApply(CLI::App& app, GlobalOptions& global) {
  SetupApplyCommand(app, global);
  SetupStatusCommand(app, global);
  SetupDestroyCommand(app, global);
}

}  // namespace crm::cli
