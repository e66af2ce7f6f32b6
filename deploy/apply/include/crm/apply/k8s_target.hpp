// crmctl apply --target k8s: the rendered manifests (a kustomization) compared with `kubectl diff
// --server-side` and applied with `kubectl apply --server-side`, the recorded state and the
// manifests applied last kept in a local directory.
#pragma once

#include <memory>
#include <string>

#include "crm/apply/target.hpp"

namespace crm::apply {

struct K8sOptions {
  std::string dir;      ///< local: state.json, the lock, the manifests applied last
  std::string context;  ///< kubectl --context; empty: the kubeconfig's current context
  std::string image;    ///< crmd's image (render::RenderOptions::image); empty: crmd:<version>
  /// The slice hosts' image for engine noweb or webjs (render::RenderOptions::wa_web_image);
  /// empty: crmd-wa-web:<version>.
  std::string wa_web_image;
};

/// The k8s target of `options`. Throws InputError when --dir is missing.
std::unique_ptr<DeployTarget> MakeK8sTarget(const K8sOptions& options, Console console);

}  // namespace crm::apply
