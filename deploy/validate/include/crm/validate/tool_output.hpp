// Reading a real tool's complaints about a scratch copy back onto the rendered file.
#pragma once

#include <string>
#include <vector>

#include "crm/validate/report.hpp"

namespace crm::validate {

/// Every non-empty line of `output` (except nginx's closing "test failed") becomes a finding on
/// `original` under `rule`, with the line number the tool reported for `scratch` ("file:12",
/// "file line 12", "line 12"; our copies keep line numbers) and `scratch` replaced by
/// `original` in the message. A tool that failed without a word still gives one finding.
void FindingsFromOutput(const std::string& output, const std::string& scratch,
                        const std::string& original, const std::string& rule,
                        const std::string& hint, std::vector<Finding>& findings);

}  // namespace crm::validate
