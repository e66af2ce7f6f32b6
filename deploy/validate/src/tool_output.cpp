#include "crm/validate/tool_output.hpp"

#include <regex>
#include <sstream>

namespace crm::validate {
namespace {

std::string RegexQuoted(const std::string& text) {
  return std::regex_replace(text, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)");
}

}  // namespace

void FindingsFromOutput(const std::string& output, const std::string& scratch,
                        const std::string& original, const std::string& rule,
                        const std::string& hint, std::vector<Finding>& findings) {
  std::istringstream in(output);
  std::string line;
  bool any = false;
  const std::regex with_line(RegexQuoted(scratch) + R"([:" ]+(?:line )?(\d+))");
  const std::regex scratch_name(RegexQuoted(scratch));
  static const std::regex bare(R"(\bline (\d+)\b)");
  while (std::getline(in, line)) {
    // nginx's closing "configuration file … test failed" repeats what the lines above said.
    if (line.empty() || line.find("test failed") != std::string::npos) {
      continue;
    }
    std::smatch m;
    int n = 0;
    if (std::regex_search(line, m, with_line) || std::regex_search(line, m, bare)) {
      n = std::stoi(m[1].str());
    }
    findings.push_back({original, n, rule, std::regex_replace(line, scratch_name, original), hint});
    any = true;
  }
  if (!any) {
    findings.push_back({original, 0, rule, "the tool failed without saying why", hint});
  }
}

}  // namespace crm::validate
