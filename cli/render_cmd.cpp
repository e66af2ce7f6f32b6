// crmctl render: write a tier's configuration for one target into a directory, with a manifest.
#include <fmt/format.h>

#include <filesystem>
#include <iostream>
#include <memory>

#include "cli_context.hpp"
#include "crm/error.hpp"
#include "crm/planner/plan.hpp"
#include "crm/render/render.hpp"
#include "crm/render/write.hpp"
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
  std::string image;
  std::string wa_web_image;
  bool force = false;
  bool print_context = false;
};

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
    SearchFromPlanFile(opts.workload->file, plan_options);
  } else {
    throw InputError("render: pass --tier N, -f workload.yaml|plan.yaml, or workload flags");
  }
  const planner::Plan plan = planner::MakePlan(workload, catalog, plan_options);
  const render::RenderTarget target = render::ParseRenderTarget(opts.target);
  render::RenderOptions render_options;
  render_options.domain = opts.domain;
  render_options.version = CRM_VERSION;
  if (!opts.image.empty()) {
    render::CheckImageReference(opts.image, "--image");
    render_options.image = opts.image;
  }
  if (!opts.wa_web_image.empty()) {
    render::CheckImageReference(opts.wa_web_image, "--wa-web-image");
    render_options.wa_web_image = opts.wa_web_image;
  }
  if (opts.print_context) {
    std::cout << render::RenderContext(plan, target, render_options).dump(2) << '\n';
    return;
  }
  if (opts.out.empty()) {
    throw InputError("--out: required (the directory to render into)");
  }
  const render::Rendering rendering = render::Render(plan, target, render_options);

  const fs::path dir(opts.out);
  render::WriteRendering(dir, plan, rendering, render_options, opts.force);
  if (!global.quiet) {
    std::cout << fmt::format("Rendered tier {} ({}) for {}: {} files, {} host(s) into {}\n",
                             plan.tier->id, plan.tier->name, opts.target, rendering.files.size(),
                             rendering.hosts.size(), dir.string());
    if (global.verbose) {
      for (const render::RenderedFile& f : rendering.files) {
        std::cout << fmt::format("  {:04o} {:<16} {}\n", f.mode, f.host, f.path);
      }
    }
    std::cout << fmt::format("Check it with: crmctl validate {}\n", dir.string());
  }
  const bool runs_images =
      target == render::RenderTarget::kCompose || target == render::RenderTarget::kK8s;
  // Compose runs slices in its one crmd service: with a wa-web engine the plain image is unused.
  const bool names_crmd_image =
      target == render::RenderTarget::kK8s ||
      (target == render::RenderTarget::kCompose && !render::UsesWaWeb(plan));
  if (names_crmd_image && !render::ImagePinned(render::CrmdImage(render_options)) &&
      !global.quiet) {
    std::cerr << fmt::format(
        "crmctl: the crmd image is named by its tag only ({}); pin what runs by digest: "
        "--image \"$(cat build/ci/image/crmd.ref)\" after scripts/build-image "
        "(docs/operations.md, \"Container image\")\n",
        render::CrmdImage(render_options));
  }
  if (runs_images && render::UsesWaWeb(plan) &&
      !render::ImagePinned(render::WaWebImage(render_options)) && !global.quiet) {
    std::cerr << fmt::format(
        "crmctl: engine {} runs its slices from the wa-web image, named by its tag only ({}); pin "
        "it: --wa-web-image \"$(cat build/ci/image/crmd-wa-web.ref)\" after scripts/build-image "
        "--wa-web (docs/operations.md, \"Container image\")\n",
        plan.workload.engine, render::WaWebImage(render_options));
  }
}

}  // namespace

void SetupRender(CLI::App& app, GlobalOptions& global) {
  auto opts = std::make_shared<RenderOptions>();
  CLI::App* cmd = app.add_subcommand(
      "render",
      "Render a deployment's configuration (systemd, nginx, PostgreSQL, compose, "
      "Kubernetes) into a directory");
  cmd->add_option("--tier", opts->tier, "Render the reference workload of tier N");
  AddWorkloadFlags(cmd, opts->workload);
  cmd->add_option("--target", opts->target, "vps, compose, multi or k8s")->required();
  cmd->add_option("--out", opts->out, "Output directory (must be empty, or --force)");
  cmd->add_option("--domain", opts->domain, "Public host name (default crm.example.com)");
  cmd->add_option("--image", opts->image,
                  "crmd's container image for compose and k8s, by tag and digest "
                  "(default crmd:<version>; scripts/build-image writes the pinned reference)");
  cmd->add_option("--wa-web-image", opts->wa_web_image,
                  "the image with Node, the wa-web sidecar and chromium that compose's crmd and "
                  "the k8s slice hosts run for engine noweb or webjs, by tag and digest (default "
                  "crmd-wa-web:<version>; scripts/build-image --wa-web writes it)");
  cmd->add_flag("--force", opts->force, "Replace an earlier rendering in --out");
  cmd->add_flag("--print-context", opts->print_context,
                "Print the data the templates see (JSON) instead of rendering");
  cmd->callback([opts, &global]() { RunRender(*opts, global); });
}

}  // namespace crm::cli
