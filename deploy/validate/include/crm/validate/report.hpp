// What validation reports: findings (file, line, rule, message, hint) and, per real tool, whether
// it passed, failed or was skipped; as text or as a JSON document.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace crm::validate {

/// One problem: where, which rule, what, and how to fix it.
struct Finding {
  std::string file;  // relative to the rendered directory
  int line = 0;      // 1-based; 0 = the whole file
  std::string rule;  // e.g. "resources-fit-host", "unique-ports", "nginx -t"
  std::string message;
  std::string hint;
};

/// "file:line: rule: message (fix: hint)".
std::string FormatFinding(const Finding& finding);

enum class ToolStatus { kPassed, kFailed, kSkipped };

/// "passed", "failed", "skipped".
std::string_view StatusName(ToolStatus status);

/// One real tool's verdict on a rendered directory.
struct ToolReport {
  std::string tool;  // "nginx -t", "promtool check config", …
  ToolStatus status = ToolStatus::kSkipped;
  std::string detail;  // why skipped, or what was checked
  int files = 0;
};

/// Everything validation found in one rendered directory.
struct DirReport {
  std::string dir;
  std::vector<Finding> findings;
  std::vector<ToolReport> tools;
};

/// --require-tools: a tool skipped because it is not installed becomes a finding.
void RequireTools(DirReport& report);

/// {"dir", "findings": [{file, line, rule, message, hint}], "tools": [{tool, status, detail}]}.
nlohmann::ordered_json ReportJson(const DirReport& report);

/// "DIR: ok" or "DIR: N finding(s)", one line per finding, and unless `quiet` the structural
/// rules applied and each tool's status.
std::string FormatReport(const DirReport& report, bool quiet);

}  // namespace crm::validate
