#include "crm/validate/report.hpp"

#include <fmt/format.h>

#include "crm/validate/structure.hpp"

namespace crm::validate {

std::string FormatFinding(const Finding& f) {
  std::string where = f.line > 0 ? fmt::format("{}:{}", f.file, f.line) : f.file;
  return f.hint.empty() ? fmt::format("{}: {}: {}", where, f.rule, f.message)
                        : fmt::format("{}: {}: {} (fix: {})", where, f.rule, f.message, f.hint);
}

std::string_view StatusName(ToolStatus s) {
  return s == ToolStatus::kPassed ? "passed" : s == ToolStatus::kFailed ? "failed" : "skipped";
}

void RequireTools(DirReport& report) {
  for (const ToolReport& t : report.tools) {
    if (t.status == ToolStatus::kSkipped && t.detail.find("not installed") != std::string::npos) {
      report.findings.push_back(
          {"", 0, t.tool, "skipped: " + t.detail + " (--require-tools)", "run scripts/bootstrap"});
    }
  }
}

nlohmann::ordered_json ReportJson(const DirReport& r) {
  nlohmann::ordered_json item;
  item["dir"] = r.dir;
  item["findings"] = nlohmann::ordered_json::array();
  for (const Finding& f : r.findings) {
    item["findings"].push_back({{"file", f.file},
                                {"line", f.line},
                                {"rule", f.rule},
                                {"message", f.message},
                                {"hint", f.hint}});
  }
  item["tools"] = nlohmann::ordered_json::array();
  for (const ToolReport& t : r.tools) {
    item["tools"].push_back(
        {{"tool", t.tool}, {"status", std::string(StatusName(t.status))}, {"detail", t.detail}});
  }
  return item;
}

std::string FormatReport(const DirReport& r, bool quiet) {
  std::string out =
      fmt::format("{}: {}\n", r.dir,
                  r.findings.empty() ? "ok" : fmt::format("{} finding(s)", r.findings.size()));
  for (const Finding& f : r.findings) {
    out += "  " + FormatFinding(f) + '\n';
  }
  if (quiet) {
    return out;
  }
  out += "  structural rules: ";
  bool first = true;
  for (const StructuralRule& rule : StructuralRules()) {
    out += (first ? "" : ", ") + rule.name;
    first = false;
  }
  out += '\n';
  for (const ToolReport& t : r.tools) {
    out += fmt::format("  {:<24} {}{}\n", t.tool, StatusName(t.status),
                       t.status == ToolStatus::kSkipped ? " (" + t.detail + ")" : "");
  }
  return out;
}

}  // namespace crm::validate
