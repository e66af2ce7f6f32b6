// Request targets: the path, and query parameters percent-decoded.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace crm::http {

/// The value of query parameter `name` in `target` ("/x?a=1&b=2"), percent-decoded. Throws
/// InputError naming `name` when the value holds a NUL character (%00).
std::optional<std::string> QueryParam(std::string_view target, std::string_view name);
/// The path of a target, without the query string.
std::string_view TargetPath(std::string_view target);
/// Percent-decodes ('+' is a space); throws InputError on a malformed escape.
std::string PercentDecode(std::string_view text);

}  // namespace crm::http
