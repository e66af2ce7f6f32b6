// A broadcast's recipients and template, read from a request: a JSON list or a CSV upload of
// phone numbers, and an approved WhatsApp template.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace crm::channel {
struct Template;  // crm/channel/channel.hpp (the request_body fuzzer builds without the channel)
}

namespace crm::slice {

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

}  // namespace crm::slice
