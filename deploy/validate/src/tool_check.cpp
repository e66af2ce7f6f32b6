#include "tool_check.hpp"

#include <nlohmann/json.hpp>

#include "crm/files.hpp"

namespace crm::validate {
namespace {

namespace fs = std::filesystem;

// Files of a rendering, from its manifest: path → host.
std::vector<std::pair<std::string, std::string>> ManifestFiles(const fs::path& dir) {
  std::vector<std::pair<std::string, std::string>> files;
  const nlohmann::json m = nlohmann::json::parse(ReadFile(dir / "manifest.json"));
  for (const auto& f : m.at("files")) {
    files.emplace_back(f.at("path").get<std::string>(), f.at("host").get<std::string>());
  }
  return files;
}

}  // namespace

CheckContext::CheckContext(fs::path dir, fs::path scratch, std::vector<Finding>& findings)
    : dir_(fs::absolute(dir)),  // the tools run in other directories (docker-compose in the file's)
      scratch_(std::move(scratch)),
      findings_(findings),
      files_(ManifestFiles(dir_)) {}

std::vector<std::string> CheckContext::FilesWhere(
    const std::function<bool(const std::string&)>& pred) const {
  std::vector<std::string> out;
  for (const auto& [path, host] : files_) {
    if (pred(path)) {
      out.push_back(path);
    }
  }
  return out;
}

ToolReport CheckContext::Skip(const std::string& tool, const std::string& why) {
  return {tool, ToolStatus::kSkipped, why, 0};
}

ToolReport CheckContext::Finish(const std::string& tool, std::size_t before, int files,
                                std::string detail) const {
  return {tool, findings_.size() > before ? ToolStatus::kFailed : ToolStatus::kPassed,
          std::move(detail), files};
}

}  // namespace crm::validate
