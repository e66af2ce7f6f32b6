// Stripe's request bodies: application/x-www-form-urlencoded with nested keys written out
// (`line_items[0][price]=price_123`, `metadata[user_id]=7`), in the order given.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace crm::billing {

/// Key/value pairs in order; keys carry their nesting ("metadata[user_id]").
using FormFields = std::vector<std::pair<std::string, std::string>>;

/// Percent-encodes everything but RFC 3986's unreserved characters (brackets included, as
/// Stripe's own libraries do).
std::string FormEscape(std::string_view text);

/// `k=v&k=v`, keys and values escaped.
std::string FormEncode(const FormFields& fields);

/// The inverse of FormEncode ('+' is a space). Throws InputError for a bad %-escape.
FormFields FormDecode(std::string_view body);

}  // namespace crm::billing
