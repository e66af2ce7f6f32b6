// docker-compose config: the rendered docker-compose.yml files.
#include "tool_check.hpp"

#include "crm/tools/tool_runner.hpp"
#include "crm/validate/tool_output.hpp"

namespace crm::validate {

namespace fs = std::filesystem;

ToolReport CheckCompose(CheckContext& check) {
  const auto compose = tools::FindTool("docker-compose");
  const auto files =
      check.FilesWhere([](const std::string& p) { return p.ends_with("docker-compose.yml"); });
  if (files.empty()) {
    return CheckContext::Skip("docker-compose config", "no docker-compose.yml rendered");
  }
  if (!compose) {
    return CheckContext::Skip("docker-compose config", "docker-compose is not installed");
  }
  const std::size_t before = check.findings().size();
  for (const std::string& f : files) {
    const fs::path file = check.dir() / f;
    const tools::ToolResult r =
        tools::RunTool({*compose, "-f", file.string(), "config", "-q"}, file.parent_path().string(),
                       std::chrono::seconds(60));
    if (r.exit_code != 0 || r.timed_out) {
      FindingsFromOutput(r.output, file.string(), f, "docker-compose config",
                         "fix the key docker-compose names", check.findings());
    }
  }
  return check.Finish("docker-compose config", before, static_cast<int>(files.size()), "");
}

}  // namespace crm::validate
