#include "k8s_target.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "crm/tools/tool_runner.hpp"
#include "crm/apply/approval.hpp"
#include "crm/apply/diff.hpp"
#include "crm/apply/inventory.hpp"
#include "crm/apply/lock.hpp"
#include "crm/apply/state.hpp"
#include "crm/error.hpp"
#include "crm/render/render.hpp"

namespace crm::cli {
namespace {

using tools::FindTool;
using tools::ProcessSpec;
using tools::RunProcess;
using tools::RunTool;
using tools::StartDetached;
using tools::ToolResult;

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kHost = "cluster";

void WriteManifest(const fs::path& path, const std::string& content, int mode) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  if (!out || ::chmod(path.c_str(), static_cast<mode_t>(mode)) != 0) {
    throw RuntimeError(fmt::format("cannot write {}", path.string()));
  }
}

std::string Joined(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) {
    const bool plain = a.find_first_of(" '\"$\\") == std::string::npos && !a.empty();
    out += (out.empty() ? "" : " ") + (plain ? a : apply::ShellQuote(a));
  }
  return out;
}

ToolResult Kubectl(const std::vector<std::string>& argv, std::chrono::seconds timeout) {
  ProcessSpec spec;
  spec.argv = argv;
  spec.timeout = timeout;
  return RunProcess(spec);
}

}  // namespace

int ApplyK8s(const planner::Plan& plan, const K8sOptions& options, const ApplyFlags& flags,
             const GlobalOptions& global) {
  const auto started = std::chrono::steady_clock::now();
  if (options.dir.empty()) {
    throw InputError("--dir: required (where the state, lock and applied manifests are kept)");
  }
  const std::vector<render::RenderTarget> fits = render::TargetsFor(*plan.tier);
  if (std::find(fits.begin(), fits.end(), render::RenderTarget::kK8s) == fits.end()) {
    throw InputError(fmt::format(
        "--target k8s: tier {} ({}) is not a Kubernetes tier; deploy it with --target local or "
        "ssh, or plan for Kubernetes (--tier 5, or a workload that needs it)",
        plan.tier->id, plan.tier->name));
  }
  render::RenderOptions render_options;
  render_options.version = CRM_VERSION;
  const render::Rendering rendering =
      render::Render(plan, render::RenderTarget::kK8s, render_options);
  apply::DesiredHost host;
  host.name = kHost;
  for (const render::RenderedFile& f : rendering.files) {
    host.files.push_back({f.path, f.content, f.mode});
  }

  const fs::path dir = fs::absolute(options.dir);
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_empty(dir, ec) && !fs::exists(dir / "state.json")) {
    throw InputError(fmt::format(
        "--dir: {} holds files but no state.json, so crmctl did not make it; choose an empty or "
        "new directory",
        dir.string()));
  }
  std::optional<apply::ApplyLock> lock;
  if (!flags.dry_run) {
    fs::create_directories(dir);
    lock.emplace(apply::ApplyLock::Acquire(dir / ".crmctl.lock"));
    if (lock->stale_pid() && !global.quiet) {
      std::cout << fmt::format(
          "Note: {} was left by process {}, which is no longer running; taking it over.\n",
          (dir / ".crmctl.lock").string(), *lock->stale_pid());
    }
  }
  apply::DeploymentState state = apply::LoadState(dir / "state.json");
  if (!state.target.empty() && state.target != "k8s") {
    throw InputError(
        fmt::format("--dir: {} holds a {} deployment, not a k8s one", dir.string(), state.target));
  }
  apply::ObservedHost observed;
  for (const apply::DesiredFile& f : host.files) {
    std::ifstream in(dir / "manifests" / f.path, std::ios::binary);
    if (in) {
      std::ostringstream ss;
      ss << in.rdbuf();
      observed.files[f.path] = ss.str();
    }
  }
  const apply::PlanDiff diff = apply::Diff({host}, state, {{kHost, observed}});

  const std::string kubectl_name = FindTool("kubectl").value_or("kubectl");
  std::vector<std::string> base = {kubectl_name};
  if (!options.context.empty()) {
    base.insert(base.end(), {"--context", options.context});
  }
  const fs::path next = dir / "manifests.next";
  const auto command = [&](const std::string& verb, const fs::path& manifests) {
    std::vector<std::string> argv = base;
    argv.insert(argv.end(),
                {verb, "--server-side", "--field-manager=crmctl", "-k", manifests.string()});
    return argv;
  };

  if (!global.quiet) {
    std::cout << fmt::format("Kubernetes deployment of tier {} ({}): {} manifest file(s)\n",
                             plan.tier->id, plan.tier->name, host.files.size());
  }
  if (flags.dry_run) {
    // No cluster needed: what would be sent, and how.
    std::cout << "Compared with the manifests applied last:\n"
              << (diff.Empty() ? std::string("  no changes\n") : apply::FormatDiff(diff, false))
              << "\nCommands apply would run (after writing the manifests to " << next.string()
              << "):\n  " << Joined(command("diff", next)) << "\n  "
              << Joined(command("apply", next)) << "\n\nManifests:\n";
    for (const apply::DesiredFile& f : host.files) {
      std::cout << "# ---- " << f.path << "\n" << f.content;
      if (!f.content.empty() && f.content.back() != '\n') {
        std::cout << "\n";
      }
    }
    std::cout << "Dry run: nothing was changed.\n";
    return apply::ApplyExitCode(flags.detailed_exitcode, true, !diff.Empty());
  }

  const auto kubectl = FindTool("kubectl");
  if (!kubectl) {
    throw RuntimeError(
        "kubectl not found on PATH: --target k8s needs it (scripts/bootstrap installs Debian's "
        "kubernetes-client)");
  }
  // Without a kubeconfig kubectl falls back to http://localhost:8080 — where the local target's
  // crmd listens. Refuse before that can happen.
  {
    std::vector<std::string> argv = base;
    argv.insert(argv.end(), {"config", "current-context"});
    const ToolResult r = Kubectl(argv, 30s);
    if (r.exit_code != 0 && options.context.empty()) {
      throw RuntimeError(fmt::format(
          "no Kubernetes cluster is configured: kubectl has no current context ({}); point "
          "KUBECONFIG at the cluster's kubeconfig or pass --context NAME",
          r.output.substr(0, r.output.find('\n'))));
    }
  }
  {
    Step step(global, "reach the cluster (kubectl get --raw /readyz)");
    std::vector<std::string> argv = base;
    argv.insert(argv.end(), {"get", "--raw", "/readyz", "--request-timeout=10s"});
    const ToolResult r = Kubectl(argv, 30s);
    if (r.exit_code != 0) {
      throw RuntimeError(
          fmt::format("the Kubernetes cluster{} is unreachable: {}",
                      options.context.empty() ? "" : " of context " + options.context,
                      r.output.substr(0, 600)));
    }
    step.Done();
  }
  fs::remove_all(next);
  for (const apply::DesiredFile& f : host.files) {
    WriteManifest(next / f.path, f.content, f.mode);
  }
  const ToolResult server_diff = Kubectl(command("diff", next), 300s);
  if (server_diff.exit_code > 1 || server_diff.timed_out) {
    throw RuntimeError(fmt::format("kubectl diff failed (exit {}): {}", server_diff.exit_code,
                                   server_diff.output));
  }
  const bool server_changes = server_diff.exit_code == 1;
  if (!global.quiet) {
    std::cout << (diff.Empty() ? std::string("Manifests: no changes since the last apply.\n")
                               : apply::FormatDiff(diff, UseColor(global, 1)));
    std::cout << (server_changes
                      ? "kubectl diff (the cluster against the manifests):\n" + server_diff.output
                      : std::string("kubectl diff: the cluster matches.\n"));
  }
  if (diff.Empty() && !server_changes) {
    fs::remove_all(next);
    std::cout << "No changes.\n";
    return 0;
  }
  if (!ConfirmPlan(true, flags, "apply these changes")) {
    return apply::ApplyExitCode(flags.detailed_exitcode, true, true);
  }
  {
    Step step(global, Joined(command("apply", next)));
    const ToolResult r = Kubectl(command("apply", next), 600s);
    if (r.exit_code != 0) {
      throw RuntimeError(fmt::format("kubectl apply failed (exit {}): {}", r.exit_code, r.output));
    }
    step.Done();
    if (!global.quiet) {
      std::cout << r.output;
    }
  }
  state.target = "k8s";
  state.settings["context"] = options.context;
  auto& files = state.hosts[kHost].files;
  files.clear();
  for (const apply::DesiredFile& f : host.files) {
    files[f.path] = {render::Sha256Hex(f.content), f.mode, CRM_VERSION};
  }
  fs::remove_all(dir / "manifests");
  fs::rename(next, dir / "manifests");
  apply::SaveState(dir / "state.json", state);
  if (!global.quiet) {
    std::cout << fmt::format("\nApply complete in {}.\n",
                             FormatSeconds(std::chrono::steady_clock::now() - started));
  }
  return apply::ApplyExitCode(flags.detailed_exitcode, true, true);
}

}  // namespace crm::cli
