// Kubernetes schemas: the rendered manifests checked by tools/k8s-validate (node,
// kubernetes-models).
#include "tool_check.hpp"

#include <cstdlib>
#include <optional>
#include <regex>
#include <sstream>

#include "crm/files.hpp"
#include "crm/tools/tool_runner.hpp"

namespace crm::validate {
namespace {

namespace fs = std::filesystem;

// tools/k8s-validate's validate.js, with its node_modules installed (scripts/bootstrap-node).
std::optional<std::string> K8sValidator() {
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("CRM_K8S_VALIDATOR")) {
    candidates.emplace_back(env);
  }
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    // build/<preset>/cli/crmctl in a source tree; <prefix>/bin/crmctl when installed.
    candidates.push_back(exe.parent_path() / "../../../tools/k8s-validate/validate.js");
    candidates.push_back(exe.parent_path() / "../share/crmctl/k8s-validate/validate.js");
  }
  for (const fs::path& c : candidates) {
    if (fs::exists(c) && fs::exists(c.parent_path() / "node_modules")) {
      return fs::weakly_canonical(c).string();
    }
  }
  return std::nullopt;
}

}  // namespace

ToolReport CheckKubernetes(CheckContext& check) {
  const auto files = check.FilesWhere([](const std::string& p) {
    return p.ends_with(".yaml") && p.find("etc/") == std::string::npos;
  });
  bool k8s = false;
  for (const std::string& f : files) {
    if (ReadFile(check.dir() / f).find("apiVersion:") != std::string::npos) {
      k8s = true;
    }
  }
  if (!k8s) {
    return CheckContext::Skip("kubernetes-models", "no Kubernetes manifests rendered");
  }
  const auto node = tools::FindTool("node");
  const std::optional<std::string> script = K8sValidator();
  if (!node) {
    return CheckContext::Skip("kubernetes-models", "node is not installed");
  }
  if (!script) {
    return CheckContext::Skip(
        "kubernetes-models",
        "tools/k8s-validate is not installed (run scripts/bootstrap, or set CRM_K8S_VALIDATOR)");
  }
  const std::size_t before = check.findings().size();
  std::vector<std::string> args = {*node, *script};
  for (const std::string& f : files) {
    args.push_back(f);
  }
  const tools::ToolResult r = tools::RunTool(args, check.dir().string(), std::chrono::seconds(120));
  if (r.exit_code != 0 || r.timed_out) {
    std::istringstream in(r.output);
    std::string line;
    static const std::regex where(R"(^([^:\s]+):(\d+):\s*(.*)$)");
    while (std::getline(in, line)) {
      std::smatch m;
      if (std::regex_match(line, m, where)) {
        check.findings().push_back({m[1].str(), std::stoi(m[2].str()), "kubernetes-models",
                                    m[3].str(), "fix the field the schema names"});
      } else if (!line.empty()) {
        check.findings().push_back({"", 0, "kubernetes-models", line, ""});
      }
    }
    if (check.findings().size() == before) {
      check.findings().push_back(
          {"", 0, "kubernetes-models", "the validator failed without saying why", ""});
    }
  }
  return check.Finish("kubernetes-models", before, static_cast<int>(files.size()), "");
}

}  // namespace crm::validate
