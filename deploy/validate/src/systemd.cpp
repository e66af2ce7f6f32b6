// systemd-analyze verify: the rendered units of each host, loaded together.
#include "tool_check.hpp"

#include <unistd.h>

#include <map>
#include <regex>
#include <sstream>

#include "crm/files.hpp"
#include "crm/tools/tool_runner.hpp"
#include "crm/validate/tool_output.hpp"

namespace crm::validate {

namespace fs = std::filesystem;

ToolReport CheckSystemd(CheckContext& check) {
  const auto analyze = tools::FindTool("systemd-analyze");
  std::map<std::string, std::vector<std::string>> by_host;
  for (const auto& [path, host] : check.files()) {
    if (path.ends_with(".service") || path.ends_with(".timer")) {
      by_host[host].push_back(path);
    }
  }
  if (by_host.empty()) {
    return CheckContext::Skip("systemd-analyze verify", "no systemd units rendered");
  }
  if (!analyze) {
    return CheckContext::Skip("systemd-analyze verify", "systemd-analyze is not installed");
  }
  const std::size_t before = check.findings().size();
  int count = 0;
  for (const auto& [host, units] : by_host) {
    const fs::path work = check.scratch() / "systemd" / host;
    fs::create_directories(work);
    std::vector<std::string> args = {*analyze, "verify"};
    std::map<std::string, std::string> originals;
    for (const std::string& unit : units) {
      std::string text = ReadFile(check.dir() / unit);
      // crmd is not installed where we validate: a stand-in binary keeps the unit loadable.
      if (access("/usr/local/bin/crmd", X_OK) != 0) {
        text = std::regex_replace(text, std::regex(R"(ExecStart=/usr/local/bin/crmd)"),
                                  "ExecStart=/bin/true");
      }
      const fs::path copy = work / fs::path(unit).filename();
      WriteFileAtomic(copy, text);
      originals[copy.string()] = unit;
      args.push_back(copy.string());
      ++count;
    }
    const tools::ToolResult r = tools::RunTool(args, work.string(), std::chrono::seconds(60));
    // verify exits 0 on unknown keys and bad values: every line naming our files is a finding.
    std::istringstream in(r.output);
    std::string line;
    while (std::getline(in, line)) {
      for (const auto& [copy, original] : originals) {
        if (line.find(copy) != std::string::npos ||
            (r.exit_code != 0 &&
             line.find(fs::path(copy).filename().string()) != std::string::npos)) {
          FindingsFromOutput(line, copy, original, "systemd-analyze verify",
                             "fix the unit key systemd names", check.findings());
          break;
        }
      }
    }
  }
  return check.Finish("systemd-analyze verify", before, count, "");
}

}  // namespace crm::validate
