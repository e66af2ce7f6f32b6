// Rendering a plan into deployable configuration: Mustache templates per target (vps, compose,
// multi, k8s) filled from the plan's figures. Pure: returns files, writes nothing.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "crm/planner/plan.hpp"

namespace crm::render {

enum class RenderTarget { kVps, kCompose, kMulti, kK8s };

/// "vps|compose|multi|k8s"; throws InputError naming --target.
RenderTarget ParseRenderTarget(std::string_view text);
std::string_view RenderTargetName(RenderTarget target);
/// The targets that can deploy a tier's topology (vps and compose: one host; multi: split and
/// ha servers; k8s: Kubernetes).
std::vector<RenderTarget> TargetsFor(const planner::Tier& tier);

/// One template file: its path under templates/ ("vps/nginx-site.conf.mustache") and text.
struct TemplateFile {
  std::string name;
  std::string_view text;
};

/// The templates compiled into the binary from templates/.
const std::vector<TemplateFile>& EmbeddedTemplates();

struct RenderedFile {
  std::string path;  // relative to the output directory
  std::string host;  // the host it belongs on ("all" for k8s manifests)
  std::string role;  // the role of that host
  int mode = 0644;   // file permissions to write with
  std::string content;
};

/// A host of the rendered deployment, recorded in the manifest so `validate` can check that what
/// the files request fits it.
struct RenderedHost {
  std::string name;
  std::string role;
  double vcpu = 0;
  double ram_bytes = 0;
};

struct Rendering {
  RenderTarget target = RenderTarget::kVps;
  std::vector<RenderedHost> hosts;
  std::vector<RenderedFile> files;  // sorted by path: deterministic
};

struct RenderOptions {
  std::string domain = "crm.example.com";  // public host name (nginx, Ingress, TLS paths)
  std::string version = "0.0.0";           // crmctl version, recorded in headers
  /// crmd's container image for compose and Kubernetes, ideally pinned by digest as
  /// scripts/build-image writes it (`localhost/crmd:0.1.0@sha256:…`); empty: `crmd:<version>`.
  std::string image;
  /// The image with the wa-web sidecar (Node, and chromium for webjs) that compose's crmd and the
  /// Kubernetes slice hosts run when the plan's engine is noweb or webjs, as
  /// `scripts/build-image --wa-web` writes it; empty: `crmd-wa-web:<version>`.
  std::string wa_web_image;
};

/// The crmd image a rendering names: `options.image`, or `crmd:<version>` when empty.
std::string CrmdImage(const RenderOptions& options);

/// The wa-web image a rendering names: `options.wa_web_image`, or `crmd-wa-web:<version>`.
std::string WaWebImage(const RenderOptions& options);

/// Whether the plan's engine runs the wa-web sidecar (noweb, webjs): its slices need Node (and
/// chromium for webjs), so compose and Kubernetes run them from the wa-web image.
bool UsesWaWeb(const planner::Plan& plan);

/// Checks an image reference given by the operator: `[registry/]name:tag[@sha256:<64 hex>]` or
/// `name@sha256:<64 hex>`; the tag `latest` and a reference without tag or digest are refused
/// (what runs would change under the same rendering). Throws InputError naming `field`.
void CheckImageReference(const std::string& image, const std::string& field);

/// Whether `image` is pinned by a content digest.
bool ImagePinned(const std::string& image);

/// The data every template sees (documented in docs/operations.md). Deterministic.
nlohmann::ordered_json RenderContext(const planner::Plan& plan, RenderTarget target,
                                     const RenderOptions& options);

/// Renders `plan` for `target`. Throws InputError when the target does not fit the plan's tier
/// (the message names the targets that do) or a template is malformed (naming it).
Rendering Render(const planner::Plan& plan, RenderTarget target, const RenderOptions& options,
                 const std::vector<TemplateFile>& templates = EmbeddedTemplates());

/// Every {{name}} a template uses that the context does not define: a template typo renders as
/// an empty string in Mustache, so tests call this for every tier and target.
std::vector<std::string> UndefinedTemplateNames(const std::vector<TemplateFile>& templates,
                                                const planner::Plan& plan, RenderTarget target,
                                                const RenderOptions& options);

/// Lower-case hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

/// The manifest.json document: target, tier, hosts, and per file path, sha256, host, role, mode.
nlohmann::ordered_json ManifestJson(const planner::Plan& plan, const Rendering& rendering,
                                    const RenderOptions& options);

}  // namespace crm::render
