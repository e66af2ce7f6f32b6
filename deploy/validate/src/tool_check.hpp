// What every real-tool check shares (private to crm_validate): the rendered directory and its
// manifest's files, a scratch directory for copies and stand-ins, and the findings it adds to.
// Each tool has its own file (nginx.cpp, promtool.cpp, …) with one Check* function.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "crm/validate/report.hpp"

namespace crm::validate {

class CheckContext {
 public:
  /// Reads `dir`/manifest.json (throws RuntimeError when it cannot). `scratch` is ours to write.
  CheckContext(std::filesystem::path dir, std::filesystem::path scratch,
               std::vector<Finding>& findings);

  const std::filesystem::path& dir() const { return dir_; }
  const std::filesystem::path& scratch() const { return scratch_; }
  std::vector<Finding>& findings() { return findings_; }
  /// The manifest's files as (path, host), in its order.
  const std::vector<std::pair<std::string, std::string>>& files() const { return files_; }
  /// The paths of the manifest's files that `pred` accepts.
  std::vector<std::string> FilesWhere(const std::function<bool(const std::string&)>& pred) const;

  static ToolReport Skip(const std::string& tool, const std::string& why);
  /// Passed unless findings were added since there were `before` of them.
  ToolReport Finish(const std::string& tool, std::size_t before, int files,
                    std::string detail) const;

 private:
  std::filesystem::path dir_;
  std::filesystem::path scratch_;
  std::vector<Finding>& findings_;
  std::vector<std::pair<std::string, std::string>> files_;
};

ToolReport CheckNginx(CheckContext& check);
ToolReport CheckPromtool(CheckContext& check);
ToolReport CheckPromtoolRules(CheckContext& check);
ToolReport CheckPostgres(CheckContext& check);
ToolReport CheckPgBouncer(CheckContext& check);
ToolReport CheckSystemd(CheckContext& check);
ToolReport CheckCompose(CheckContext& check);
ToolReport CheckKubernetes(CheckContext& check);

}  // namespace crm::validate
