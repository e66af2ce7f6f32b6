// Validation of a tenant's CRM input: phone numbers (E.164), contact fields, tags, cursors.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace crm::channel {
struct Template;  // crm/channel/channel.hpp
}

namespace crm::slice {

/// Normalises a phone number to E.164: spaces, dashes, dots and parentheses are dropped; the
/// result must be "+" and 7–15 digits, the first not 0. Throws InputError naming `field`.
std::string NormalizePhone(const std::string& text, const std::string& field = "phone");

struct ContactInput {
  std::optional<std::string> name;
  std::optional<std::string> phone;
  std::optional<std::vector<std::string>> tags;
};

/// Reads a contact body. `partial` (PATCH) makes every field optional but requires one; unknown
/// fields are refused so a typo ("nmae") is not silently ignored.
ContactInput ParseContact(const nlohmann::json& body, bool partial);

/// A broadcast's recipients from a JSON array of numbers: normalised to E.164, duplicates
/// dropped (first kept). Every bad entry is reported, by index ("recipients[4]: …"), up to 10.
std::vector<std::string> ParseRecipients(const nlohmann::json& list);

/// A broadcast's recipients from a CSV upload: either a header row naming a phone column
/// ("phone", "number", "mobile", "whatsapp", "wa_id"; other columns are ignored) or one number
/// per line. Commas or semicolons separate fields; double quotes may enclose them. Blank lines
/// are skipped. Bad rows are reported by line ("line 17: phone: …"), up to 10.
std::vector<std::string> ParseRecipientsCsv(std::string_view csv);

/// A broadcast's WhatsApp template: {"name", "language"?: "en_US", "parameters"?: [text, …]}.
/// Names are Meta's (lower case, digits, underscores); at most 10 parameters of 1–1024
/// characters. Throws InputError naming "template.<field>".
channel::Template ParseTemplate(const nlohmann::json& value);

/// A positive row id from a path segment or cursor; InputError naming `what` otherwise.
long long ParseId(const std::string& text, const std::string& what);

/// ?limit= : 1..100, default 50.
int ParseLimit(const std::optional<std::string>& text);

/// A list request's page: ?cursor= (the previous page's next_cursor; none = the first page) and
/// ?limit=.
struct PageRequest {
  long long cursor = 0;
  int limit = 50;
};
PageRequest ParsePage(std::string_view target);

}  // namespace crm::slice
