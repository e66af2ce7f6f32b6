// Small text helpers shared by the planner and the CLI.
#pragma once

#include <sstream>
#include <string>
#include <vector>

namespace crm {

/// The lines of `text`, without their "\n" (a last line without one counts too).
inline std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(line);
  }
  return lines;
}

}  // namespace crm
