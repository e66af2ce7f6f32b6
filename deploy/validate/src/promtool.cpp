// promtool check config: the rendered prometheus.yml files.
#include "tool_check.hpp"

#include "crm/tools/tool_runner.hpp"
#include "crm/validate/tool_output.hpp"

namespace crm::validate {

namespace fs = std::filesystem;

ToolReport CheckPromtool(CheckContext& check) {
  const auto promtool = tools::FindTool("promtool");
  const auto files =
      check.FilesWhere([](const std::string& p) { return p.ends_with("prometheus.yml"); });
  if (files.empty()) {
    return CheckContext::Skip("promtool check config", "no prometheus.yml rendered");
  }
  if (!promtool) {
    return CheckContext::Skip("promtool check config",
                              "promtool is not installed (package prometheus)");
  }
  const std::size_t before = check.findings().size();
  for (const std::string& f : files) {
    const tools::ToolResult r =
        tools::RunTool({*promtool, "check", "config", (check.dir() / f).string()},
                       check.dir().string(), std::chrono::seconds(30));
    if (r.exit_code != 0 || r.timed_out) {
      FindingsFromOutput(r.output, (check.dir() / f).string(), f, "promtool check config",
                         "fix the field promtool names", check.findings());
    }
  }
  return check.Finish("promtool check config", before, static_cast<int>(files.size()), "");
}

}  // namespace crm::validate
