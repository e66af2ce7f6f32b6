// Structural checks of a rendered deployment directory: the manifest's files and hashes,
// resources requested vs. the hosts, unique ports per host, every runtime knob set and in range,
// no secret value inline. Reads only the directory it is given; runs nothing.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace crm::planner {

/// One problem: where, which rule, what, and how to fix it.
struct Finding {
  std::string file;  // relative to the rendered directory
  int line = 0;      // 1-based; 0 = the whole file
  std::string rule;  // e.g. "resources-fit-host", "unique-ports", "nginx -t"
  std::string message;
  std::string hint;
};

/// "file:line: rule: message (hint)".
std::string FormatFinding(const Finding& finding);

/// The structural rules, each a name and one line of what it checks.
struct StructuralRule {
  std::string name;
  std::string description;
};
const std::vector<StructuralRule>& StructuralRules();

/// Runs every structural rule on `dir` (a `crmctl render` output). Throws InputError when `dir`
/// is not a directory or has no readable manifest.json.
std::vector<Finding> CheckStructure(const std::filesystem::path& dir);

}  // namespace crm::planner
