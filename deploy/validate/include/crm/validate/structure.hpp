// Structural checks of a rendered deployment directory: the manifest's files and hashes,
// resources requested vs. the hosts, unique ports per host, every runtime knob set and in range,
// no secret value inline. Reads only the directory it is given; runs nothing.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "crm/validate/report.hpp"

namespace crm::validate {

/// The structural rules, each a name and one line of what it checks.
struct StructuralRule {
  std::string name;
  std::string description;
};
const std::vector<StructuralRule>& StructuralRules();

/// Runs every structural rule on `dir` (a `crmctl render` output). Throws InputError when `dir`
/// is not a directory or has no readable manifest.json.
std::vector<Finding> CheckStructure(const std::filesystem::path& dir);

}  // namespace crm::validate
