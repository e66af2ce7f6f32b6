#include "crm/apply/k8s_target.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <iostream>

#include "crm/apply/inventory.hpp"
#include "crm/apply/step.hpp"
#include "crm/error.hpp"
#include "crm/files.hpp"
#include "crm/render/render.hpp"
#include "crm/tools/tool_runner.hpp"

namespace crm::apply {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using tools::ToolResult;

constexpr const char* kHost = "cluster";

std::string Joined(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) {
    const bool plain = a.find_first_of(" '\"$\\") == std::string::npos && !a.empty();
    out += (out.empty() ? "" : " ") + (plain ? a : ShellQuote(a));
  }
  return out;
}

ToolResult Kubectl(const std::vector<std::string>& argv, std::chrono::seconds timeout) {
  tools::ProcessSpec spec;
  spec.argv = argv;
  spec.timeout = timeout;
  return tools::RunProcess(spec);
}

class K8sTarget final : public DeployTarget {
 public:
  K8sTarget(const K8sOptions& options, Console console)
      : options_(options), console_(console), dir_(CheckedDir(options)) {
    kubectl_ = {tools::FindTool("kubectl").value_or("kubectl")};
    if (!options_.context.empty()) {
      kubectl_.insert(kubectl_.end(), {"--context", options_.context});
    }
  }

  std::string_view Kind() const override { return "k8s"; }
  const fs::path& Dir() const override { return dir_; }
  std::vector<DesiredHost> Desire(const planner::Plan& plan,
                                  const DeploymentState& recorded) override;
  std::map<std::string, ObservedHost> Observe(const DeploymentState& recorded) override;
  std::string Heading() const override {
    return fmt::format("Kubernetes deployment of tier {} ({}): {} manifest file(s)\n", tier_id_,
                       tier_name_, host_.files.size());
  }
  PlanReview Review(PlanDiff& diff, bool dry_run) override;
  void Converge(const PlanDiff& diff, DeploymentState& state,
                const std::function<void()>& save) override;

 private:
  static fs::path CheckedDir(const K8sOptions& options) {
    if (options.dir.empty()) {
      throw InputError("--dir: required (where the state, lock and applied manifests are kept)");
    }
    return fs::absolute(options.dir);
  }
  fs::path Next() const { return dir_ / "manifests.next"; }
  // kubectl VERB --server-side … -k MANIFESTS
  std::vector<std::string> Command(const std::string& verb, const fs::path& manifests) const {
    std::vector<std::string> argv = kubectl_;
    argv.insert(argv.end(),
                {verb, "--server-side", "--field-manager=crmctl", "-k", manifests.string()});
    return argv;
  }
  std::string DryRunNotes() const;
  void RequireCluster() const;

  K8sOptions options_;
  Console console_;
  fs::path dir_;
  std::vector<std::string> kubectl_;  // kubectl [--context NAME]
  int tier_id_ = 0;
  std::string tier_name_;
  DesiredHost host_;
};

std::vector<DesiredHost> K8sTarget::Desire(const planner::Plan& plan,
                                           const DeploymentState& /*recorded*/) {
  const std::vector<render::RenderTarget> fits = render::TargetsFor(*plan.tier);
  if (std::find(fits.begin(), fits.end(), render::RenderTarget::kK8s) == fits.end()) {
    throw InputError(fmt::format(
        "--target k8s: tier {} ({}) is not a Kubernetes tier; deploy it with --target local or "
        "ssh, or plan for Kubernetes (--tier 5, or a workload that needs it)",
        plan.tier->id, plan.tier->name));
  }
  tier_id_ = plan.tier->id;
  tier_name_ = plan.tier->name;
  render::RenderOptions render_options;
  render_options.version = CRM_VERSION;
  render_options.image = options_.image;
  render_options.wa_web_image = options_.wa_web_image;
  const render::Rendering rendering =
      render::Render(plan, render::RenderTarget::kK8s, render_options);
  host_.name = kHost;
  for (const render::RenderedFile& f : rendering.files) {
    host_.files.push_back({f.path, f.content, f.mode});
  }
  return {host_};
}

// The manifests applied last (a file missing there is not observed: the state is trusted).
std::map<std::string, ObservedHost> K8sTarget::Observe(const DeploymentState& /*recorded*/) {
  ObservedHost observed;
  for (const DesiredFile& f : host_.files) {
    if (auto text = ReadFileIfExists(dir_ / "manifests" / f.path)) {
      observed.files[f.path] = std::move(text);
    }
  }
  return {{kHost, observed}};
}

// No cluster needed: what would be sent, and how.
std::string K8sTarget::DryRunNotes() const {
  std::string notes = fmt::format(
      "\nCommands apply would run (after writing the manifests to {}):\n  {}\n  {}\n\n"
      "Manifests:\n",
      Next().string(), Joined(Command("diff", Next())), Joined(Command("apply", Next())));
  for (const DesiredFile& f : host_.files) {
    notes += "# ---- " + f.path + "\n" + f.content;
    if (!f.content.empty() && f.content.back() != '\n') {
      notes += "\n";
    }
  }
  return notes;
}

// A configured, reachable cluster.
void K8sTarget::RequireCluster() const {
  if (!tools::FindTool("kubectl")) {
    throw RuntimeError(
        "kubectl not found on PATH: --target k8s needs it (scripts/bootstrap installs Debian's "
        "kubernetes-client)");
  }
  // Without a kubeconfig kubectl falls back to http://localhost:8080 — where the local target's
  // crmd listens. Refuse before that can happen.
  std::vector<std::string> argv = kubectl_;
  argv.insert(argv.end(), {"config", "current-context"});
  const ToolResult context = Kubectl(argv, 30s);
  if (context.exit_code != 0 && options_.context.empty()) {
    throw RuntimeError(fmt::format(
        "no Kubernetes cluster is configured: kubectl has no current context ({}); point "
        "KUBECONFIG at the cluster's kubeconfig or pass --context NAME",
        context.output.substr(0, context.output.find('\n'))));
  }
  Step step(console_.quiet, "reach the cluster (kubectl get --raw /readyz)");
  argv = kubectl_;
  argv.insert(argv.end(), {"get", "--raw", "/readyz", "--request-timeout=10s"});
  const ToolResult ready = Kubectl(argv, 30s);
  if (ready.exit_code != 0) {
    throw RuntimeError(
        fmt::format("the Kubernetes cluster{} is unreachable: {}",
                    options_.context.empty() ? "" : " of context " + options_.context,
                    ready.output.substr(0, 600)));
  }
  step.Done();
}

PlanReview K8sTarget::Review(PlanDiff& diff, bool dry_run) {
  PlanReview review;
  if (dry_run) {
    review.notes = DryRunNotes();
    return review;
  }
  RequireCluster();
  fs::remove_all(Next());
  for (const DesiredFile& f : host_.files) {
    WriteFileAtomic(Next() / f.path, f.content, f.mode);
  }
  const ToolResult server_diff = Kubectl(Command("diff", Next()), 300s);
  if (server_diff.exit_code > 1 || server_diff.timed_out) {
    throw RuntimeError(fmt::format("kubectl diff failed (exit {}): {}", server_diff.exit_code,
                                   server_diff.output));
  }
  review.unlisted_changes = server_diff.exit_code == 1;
  review.notes = (diff.Empty() ? "Manifests: no changes since the last apply.\n" : "") +
                 (review.unlisted_changes
                      ? "kubectl diff (the cluster against the manifests):\n" + server_diff.output
                      : std::string("kubectl diff: the cluster matches.\n"));
  if (diff.Empty() && !review.unlisted_changes) {
    fs::remove_all(Next());
  }
  return review;
}

void K8sTarget::Converge(const PlanDiff& /*diff*/, DeploymentState& state,
                         const std::function<void()>& save) {
  {
    Step step(console_.quiet, Joined(Command("apply", Next())));
    const ToolResult r = Kubectl(Command("apply", Next()), 600s);
    if (r.exit_code != 0) {
      throw RuntimeError(fmt::format("kubectl apply failed (exit {}): {}", r.exit_code, r.output));
    }
    step.Done();
    if (!console_.quiet) {
      std::cout << r.output;
    }
  }
  state.settings["context"] = options_.context;
  auto& files = state.hosts[kHost].files;
  files.clear();
  for (const DesiredFile& f : host_.files) {
    files[f.path] = {render::Sha256Hex(f.content), f.mode, CRM_VERSION};
  }
  fs::remove_all(dir_ / "manifests");
  fs::rename(Next(), dir_ / "manifests");
  save();
}

}  // namespace

std::unique_ptr<DeployTarget> MakeK8sTarget(const K8sOptions& options, Console console) {
  return std::make_unique<K8sTarget>(options, console);
}

}  // namespace crm::apply
