#include "crm/validate/validate.hpp"

#include <cstdlib>

#include "crm/error.hpp"
#include "crm/validate/structure.hpp"
#include "tool_check.hpp"

namespace crm::validate {
namespace {

namespace fs = std::filesystem;

std::vector<ToolReport> RunToolChecks(const fs::path& dir, const fs::path& scratch,
                                      std::vector<Finding>& findings) {
  CheckContext check(dir, scratch, findings);
  return {CheckNginx(check),    CheckPromtool(check),  CheckPromtoolRules(check),
          CheckPostgres(check), CheckPgBouncer(check), CheckSystemd(check),
          CheckCompose(check),  CheckKubernetes(check)};
}

}  // namespace

DirReport ValidateDir(const fs::path& dir) {
  DirReport report;
  report.dir = dir.string();
  report.findings = CheckStructure(dir);
  char tmpl[] = "/tmp/crmctl-validate-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    throw RuntimeError("cannot create a scratch directory in /tmp");
  }
  const fs::path scratch(tmpl);
  try {
    report.tools = RunToolChecks(dir, scratch, report.findings);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(scratch, ec);
    throw;
  }
  std::error_code ec;
  fs::remove_all(scratch, ec);
  return report;
}

}  // namespace crm::validate
