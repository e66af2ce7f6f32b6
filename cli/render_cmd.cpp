// crmctl render: write a tier's configuration for one target into a directory, with a manifest.
#include <fmt/format.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "cli_context.hpp"
#include "crm/error.hpp"
#include "crm/planner/plan.hpp"
#include "crm/planner/render.hpp"
#include "workload_flags.hpp"

namespace crm::cli {
namespace {

namespace fs = std::filesystem;

struct RenderOptions {
  std::shared_ptr<WorkloadFlags> workload = std::make_shared<WorkloadFlags>();
  int tier = 0;
  std::string target;
  std::string out;
  std::string domain = "crm.example.com";
  bool force = false;
  bool print_context = false;
};

void PrepareOutput(const fs::path& dir, bool force) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) {
    throw InputError(fmt::format("--out: {} exists and is not a directory", dir.string()));
  }
  if (fs::exists(dir, ec) && !fs::is_empty(dir, ec)) {
    if (!force) {
      throw InputError(fmt::format(
          "--out: {} is not empty; pass --force to replace an earlier rendering", dir.string()));
    }
    if (!fs::exists(dir / "manifest.json")) {
      throw InputError(fmt::format(
          "--out: {} has no manifest.json, so it is not a crmctl rendering; refusing to empty it "
          "even with --force",
          dir.string()));
    }
    for (const auto& entry : fs::directory_iterator(dir)) {
      fs::remove_all(entry.path());
    }
  }
  fs::create_directories(dir, ec);
  if (ec) {
    throw RuntimeError(fmt::format("--out: cannot create {}: {}", dir.string(), ec.message()));
  }
}

void WriteFile(const fs::path& path, const std::string& content, int mode) {
  fs::create_directories(path.parent_path());
  // Create with the final mode so a secret-bearing file is never readable by others, not even
  // for a moment.
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
    out.close();
    if (!out) {
      throw RuntimeError(fmt::format("cannot write {}", path.string()));
    }
  }
  if (chmod(tmp.c_str(), static_cast<mode_t>(mode)) != 0) {
    throw RuntimeError(fmt::format("cannot chmod {}", path.string()));
  }
  fs::rename(tmp, path);
}

void RunRender(const RenderOptions& opts, GlobalOptions& global) {
  const planner::Catalog catalog = LoadCatalog(global);
  if (opts.tier != 0 && opts.workload->Given()) {
    throw InputError("--tier: renders the tier's reference workload; drop -f and workload flags");
  }
  planner::Workload workload;
  planner::PlanOptions plan_options;
  if (opts.tier != 0) {
    const planner::Tier* tier = catalog.FindTier(opts.tier);
    if (tier == nullptr) {
      throw InputError(fmt::format("--tier: no tier {} (the catalog has 1 to {})", opts.tier,
                                   catalog.tiers().size()));
    }
    workload = planner::ReferenceWorkload(*tier);
    plan_options.only_tier = opts.tier;
  } else if (opts.workload->Given()) {
    workload = BuildWorkload(*opts.workload, catalog);
  } else {
    throw InputError("render: pass --tier N, -f workload.yaml|plan.yaml, or workload flags");
  }
  const planner::Plan plan = planner::MakePlan(workload, catalog, plan_options);
  const planner::RenderTarget target = planner::ParseRenderTarget(opts.target);
  planner::RenderOptions render_options;
  render_options.domain = opts.domain;
  render_options.version = CRM_VERSION;
  if (opts.print_context) {
    std::cout << planner::RenderContext(plan, target, render_options).dump(2) << '\n';
    return;
  }
  if (opts.out.empty()) {
    throw InputError("--out: required (the directory to render into)");
  }
  const planner::Rendering rendering = planner::Render(plan, target, render_options);

  const fs::path dir(opts.out);
  WriteRendering(dir, plan, rendering, render_options, opts.force);
  if (!global.quiet) {
    std::cout << fmt::format("Rendered tier {} ({}) for {}: {} files, {} host(s) into {}\n",
                             plan.tier->id, plan.tier->name, opts.target, rendering.files.size(),
                             rendering.hosts.size(), dir.string());
    if (global.verbose) {
      for (const planner::RenderedFile& f : rendering.files) {
        std::cout << fmt::format("  {:04o} {:<16} {}\n", f.mode, f.host, f.path);
      }
    }
    std::cout << fmt::format("Check it with: crmctl validate {}\n", dir.string());
  }
}

}  // namespace

void WriteRendering(const std::filesystem::path& dir, const planner::Plan& plan,
                    const planner::Rendering& rendering, const planner::RenderOptions& options,
                    bool force) {
  PrepareOutput(dir, force);
  for (const planner::RenderedFile& f : rendering.files) {
    WriteFile(dir / f.path, f.content, f.mode);
  }
  WriteFile(dir / "manifest.json", planner::ManifestJson(plan, rendering, options).dump(2) + "\n",
            0644);
}

void SetupRender(CLI::App& app, GlobalOptions& global) {
  auto opts = std::make_shared<RenderOptions>();
  CLI::App* cmd = app.add_subcommand(
      "render", "Render a deployment's configuration (systemd, nginx, PostgreSQL, compose, "
                "Kubernetes) into a directory");
  cmd->add_option("--tier", opts->tier, "Render the reference workload of tier N");
  AddWorkloadFlags(cmd, opts->workload);
  cmd->add_option("--target", opts->target, "vps, compose, multi or k8s")->required();
  cmd->add_option("--out", opts->out, "Output directory (must be empty, or --force)");
  cmd->add_option("--domain", opts->domain, "Public host name (default crm.example.com)");
  cmd->add_flag("--force", opts->force, "Replace an earlier rendering in --out");
  cmd->add_flag("--print-context", opts->print_context,
                "Print the data the templates see (JSON) instead of rendering");
  cmd->callback([opts, &global]() { RunRender(*opts, global); });
}

}  // namespace crm::cli
