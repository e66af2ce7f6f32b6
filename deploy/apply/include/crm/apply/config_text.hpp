// Small edits of rendered configuration text for a target's local facts (ports, paths): env
// files (KEY=value) and postgresql.conf (name = value).
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace crm::apply {

/// KEY=value lines of an env file in order; blank lines and # comments skipped. Throws
/// InputError "file:line: ..." on a line that is neither.
std::vector<std::pair<std::string, std::string>> ParseEnvFile(const std::string& text,
                                                              const std::string& file);

/// `text` with KEY's line replaced by KEY=value (appended when absent).
std::string SetEnvValue(const std::string& text, const std::string& key, const std::string& value);

/// `text` with KEY's line removed.
std::string RemoveEnvValue(const std::string& text, const std::string& key);

/// postgresql.conf `text` with `name = value` replacing the setting's line (appended when
/// absent). `value` is written as given (quote strings yourself).
std::string SetConfValue(const std::string& text, const std::string& name,
                         const std::string& value);

}  // namespace crm::apply
