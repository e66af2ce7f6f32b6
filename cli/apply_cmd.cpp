// crmctl apply, status and destroy: plan/apply semantics over the targets local (the embedded
// default), ssh and k8s. The targets live in their own files; this one parses and dispatches.
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "apply_engine.hpp"
#include "cli_context.hpp"
#include "crm/error.hpp"
#include "crm/planner/plan.hpp"
#include "crm/planner/report.hpp"
#include "k8s_target.hpp"
#include "local_target.hpp"
#include "ssh_target.hpp"
#include "workload_flags.hpp"

namespace crm::cli {
namespace {

namespace fs = std::filesystem;

struct ApplyOptions {
  std::shared_ptr<WorkloadFlags> workload = std::make_shared<WorkloadFlags>();
  int tier = 0;
  std::string target = "local";
  ApplyFlags flags;
  LocalOptions local;
  std::string inventory;
  std::string context;
};

constexpr const char* kRecordedPlan = "plan.json";

// The plan apply converges to: the workload given, else tier N's reference workload, else the
// plan applied last (DIR/plan.json), else tier 1 (the smallest deployment).
// The plan points into `catalog`, which must outlive it.
planner::Plan BuildPlan(const ApplyOptions& opts, const planner::Catalog& catalog) {
  if (opts.tier != 0 && opts.workload->Given()) {
    throw InputError("--tier: deploys the tier's reference workload; drop -f and workload flags");
  }
  planner::PlanOptions plan_options;
  if (opts.workload->Given()) {
    return planner::MakePlan(BuildWorkload(*opts.workload, catalog), catalog, plan_options);
  }
  // Nothing given: the plan applied last, so a plain re-apply never changes the tier.
  const fs::path recorded = fs::path(opts.local.dir) / kRecordedPlan;
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

void AddApprovalFlags(CLI::App* cmd, ApplyFlags& flags) {
  cmd->add_flag("--dry-run", flags.dry_run, "Print the plan and change nothing");
  cmd->add_flag("--detailed-exitcode", flags.detailed_exitcode,
                "Exit 0 when there were no changes, 1 on error, 2 when changes were present");
  cmd->add_flag("--auto-approve", flags.auto_approve,
                "Change without asking (required when stdin is not a terminal)");
}

void CheckTarget(const std::string& target, bool any_apply_target) {
  if (target == "local" || (any_apply_target && (target == "ssh" || target == "k8s"))) {
    return;
  }
  throw InputError(fmt::format("--target: '{}' is not available here; {} (see docs/operations.md)",
                               target,
                               any_apply_target ? "apply deploys --target local, ssh or k8s"
                                       : "status and destroy manage --target local deployments"));
}

// With --detailed-exitcode, 2 means "changes present", so every error, input errors included,
// exits 1 there; without it, errors reach main's usual translation (2 input, 1 runtime).
template <typename Run>
void WithDetailedExitCode(const ApplyFlags& flags, GlobalOptions& global, Run run) {
  if (!flags.detailed_exitcode) {
    global.exit_code = run();
    return;
  }
  try {
    global.exit_code = run();
  } catch (const Error& e) {
    std::cerr << "crmctl: " << e.what() << '\n';
    global.exit_code = 1;
  }
}

}  // namespace

void SetupApply(CLI::App& app, GlobalOptions& global) {
  auto opts = std::make_shared<ApplyOptions>();
  CLI::App* apply = app.add_subcommand(
      "apply", "Provision a deployment: render, diff against the recorded state, converge");
  apply->add_option("--target", opts->target, "local (the embedded default), ssh or k8s");
  apply->add_option("--context", opts->context, "k8s: the kubeconfig context (default: current)");
  apply->add_option("--inventory", opts->inventory,
                    "ssh: the inventory file (hosts, address, port, user, key, dir, commands)");
  apply
      ->add_option("--dir", opts->local.dir,
                   "Deployment directory: its state, lock, configuration, data and logs")
      ->required();
  apply->add_option("--tier", opts->tier,
                    "Deploy tier N's reference workload (default: the plan applied last, "
                    "DIR/plan.json, else tier 1)");
  AddWorkloadFlags(apply, opts->workload);
  AddApprovalFlags(apply, opts->flags);
  apply->add_option("--port", opts->local.port,
                    "local: crmd's HTTP port on 127.0.0.1 (default: the recorded one, else 8080; "
                    "0 = any free port)");
  apply->add_option("--pg-port", opts->local.pg_port,
                    "local: PostgreSQL's port (default: the recorded one, else a free one)");
  apply->add_option("--crmd", opts->local.crmd,
                    "local: the crmd binary (default: next to crmctl, the build tree, PATH)");
  apply->add_option("--admin-email", opts->local.admin_email,
                    "local: the admin account created on the first apply (admin@crm.local)");
  apply->callback([opts, &global]() {
    WithDetailedExitCode(opts->flags, global, [&] {
      CheckTarget(opts->target, true);
      const planner::Catalog catalog = LoadCatalog(global);
      const planner::Plan plan = BuildPlan(*opts, catalog);
      int code = 0;
      if (opts->target == "k8s") {
        code = ApplyK8s(plan, {opts->local.dir, opts->context}, opts->flags, global);
      } else if (opts->target == "ssh") {
        code = ApplySsh(plan, {opts->local.dir, opts->inventory}, opts->flags, global);
      } else {
        code = ApplyLocal(plan, opts->local, opts->flags, global);
      }
      const fs::path dir(opts->local.dir);
      if (!opts->flags.dry_run && fs::exists(dir / "state.json")) {
        std::ofstream out(dir / kRecordedPlan, std::ios::trunc);
        out << planner::PlanToJson(plan).dump(2) << "\n";
      }
      return code;
    });
  });

  auto status_dir = std::make_shared<std::string>();
  auto status_target = std::make_shared<std::string>("local");
  CLI::App* status = app.add_subcommand(
      "status",
      "A deployment's processes, health, slices and versions (exit 1 if anything is down)");
  status->add_option("--dir", *status_dir, "Deployment directory")->required();
  status->add_option("--target", *status_target, "local");
  status->callback([status_dir, status_target, &global]() {
    CheckTarget(*status_target, false);
    global.exit_code = StatusLocal(*status_dir, global);
  });

  auto destroy_opts = std::make_shared<ApplyOptions>();
  auto purge = std::make_shared<bool>(false);
  CLI::App* destroy =
      app.add_subcommand("destroy", "Stop a deployment; with --purge also delete its data");
  destroy->add_option("--dir", destroy_opts->local.dir, "Deployment directory")->required();
  destroy->add_option("--target", destroy_opts->target, "local");
  destroy->add_flag("--purge", *purge, "Also remove the directory: database, files, logs, state");
  AddApprovalFlags(destroy, destroy_opts->flags);
  destroy->callback([destroy_opts, purge, &global]() {
    WithDetailedExitCode(destroy_opts->flags, global, [&] {
      CheckTarget(destroy_opts->target, false);
      return DestroyLocal(destroy_opts->local.dir, *purge, destroy_opts->flags, global);
    });
  });
}

}  // namespace crm::cli
