// The last lines of a log file, for an error message that says why a process would not run.
#pragma once

#include <deque>
#include <filesystem>
#include <fstream>
#include <string>

namespace crm::orchestrator {

/// The last `lines` lines of `file` joined with " | " (empty when it cannot be read).
inline std::string LastLines(const std::filesystem::path& file, std::size_t lines) {
  std::ifstream in(file);
  std::deque<std::string> tail;
  std::string line;
  while (std::getline(in, line)) {
    tail.push_back(line);
    if (tail.size() > lines) {
      tail.pop_front();
    }
  }
  std::string out;
  for (const auto& l : tail) {
    out += (out.empty() ? "" : " | ") + l;
  }
  return out;
}

}  // namespace crm::orchestrator
