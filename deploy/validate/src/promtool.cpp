// promtool check config and check rules: the rendered prometheus.yml and alert-rules.yml files.
#include "tool_check.hpp"

#include <string_view>

#include "crm/text.hpp"
#include "crm/tools/tool_runner.hpp"
#include "crm/validate/tool_output.hpp"

namespace crm::validate {
namespace {

namespace fs = std::filesystem;

// promtool's complaints without its progress lines ("Checking F", "SUCCESS: …", a bare
// "FAILED:"), which would otherwise each become a finding.
std::string Complaints(const std::string& output) {
  std::string out;
  for (const std::string& line : SplitLines(output)) {
    const std::size_t first = line.find_first_not_of(" \t");
    const std::string_view t =
        first == std::string::npos ? std::string_view() : std::string_view(line).substr(first);
    if (t.starts_with("Checking ") || t.starts_with("SUCCESS") || t == "FAILED:") {
      continue;
    }
    out += line;
    out += '\n';
  }
  return out;
}

// promtool `command` (config or rules) on every rendered file whose path ends with `suffix`.
ToolReport RunPromtool(CheckContext& check, const std::string& command, const std::string& suffix,
                       const std::string& hint) {
  const std::string tool = "promtool check " + command;
  const auto promtool = tools::FindTool("promtool");
  const auto files =
      check.FilesWhere([&suffix](const std::string& p) { return p.ends_with(suffix); });
  if (files.empty()) {
    return CheckContext::Skip(tool, "no " + suffix + " rendered");
  }
  if (!promtool) {
    return CheckContext::Skip(tool, "promtool is not installed (package prometheus)");
  }
  const std::size_t before = check.findings().size();
  for (const std::string& f : files) {
    const tools::ToolResult r =
        tools::RunTool({*promtool, "check", command, (check.dir() / f).string()},
                       check.dir().string(), std::chrono::seconds(30));
    if (r.exit_code != 0 || r.timed_out) {
      FindingsFromOutput(Complaints(r.output), (check.dir() / f).string(), f, tool, hint,
                         check.findings());
    }
  }
  return check.Finish(tool, before, static_cast<int>(files.size()), "");
}

}  // namespace

ToolReport CheckPromtool(CheckContext& check) {
  return RunPromtool(check, "config", "prometheus.yml", "fix the field promtool names");
}

// prometheus.yml loads its rules too, but a rules file gets its own verdict and line numbers.
ToolReport CheckPromtoolRules(CheckContext& check) {
  return RunPromtool(check, "rules", "alert-rules.yml", "fix the rule promtool names");
}

}  // namespace crm::validate
