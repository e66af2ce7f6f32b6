// crmctl apply --target k8s: the rendered manifests (a kustomization) compared with `kubectl diff
// --server-side` and applied with `kubectl apply --server-side`, the recorded state kept locally.
#pragma once

#include <string>

#include "apply_engine.hpp"
#include "cli_context.hpp"
#include "crm/planner/plan.hpp"

namespace crm::cli {

struct K8sOptions {
  std::string dir;      ///< local: state.json, the lock, the manifests applied last
  std::string context;  ///< kubectl --context; empty: the kubeconfig's current context
};

/// Converges the cluster to the plan. Returns the exit code (see ApplyExitCode).
int ApplyK8s(const planner::Plan& plan, const K8sOptions& options, const ApplyFlags& flags,
             const GlobalOptions& global);

}  // namespace crm::cli
