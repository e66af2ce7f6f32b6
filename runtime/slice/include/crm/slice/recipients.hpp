// A broadcast's recipients and template, read from a request: a JSON list or a CSV upload of
// phone numbers, and an approved WhatsApp template.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "crm/slice/validation.hpp"

namespace crm::channel {
struct Template;  // crm/channel/channel.hpp (the request_body fuzzer builds without the channel)
}

namespace crm::slice {

/// A broadcast's recipients from a JSON array of numbers: normalised to E.164, duplicates
/// dropped (first kept). Every bad entry is reported, by index ("recipients[4]: …"), up to 10.
/// More than `max_rows` entries: http::TooLarge (413) naming "recipients".
std::vector<std::string> ParseRecipients(const nlohmann::json& list,
                                         std::size_t max_rows = kUploadMaxRows);

/// Counts the entries of the top-level "recipients" array of a JSON body without building
/// anything (a SAX pass), and throws http::TooLarge (413) naming "recipients" when there are more
/// than `max_rows`: run before the body is parsed, so a list of any length never becomes a document
/// in memory. A body holding more than `max_rows` + 100 values anywhere (a list under another
/// key) is refused the same way, without a field. A body that does not parse passes; the parse that
/// follows reports it.
void RefuseTooManyRecipients(std::string_view json_body, std::size_t max_rows);

/// A broadcast's recipients from a CSV upload: either a header row naming a phone column
/// ("phone", "number", "mobile", "whatsapp", "wa_id"; other columns are ignored) or one number
/// per line. Commas or semicolons separate fields; double quotes may enclose them. Blank lines
/// are skipped. Bad rows are reported by line ("line 17: phone: …"), up to 10. More than
/// `max_rows` rows: http::TooLarge (413) naming "recipients", thrown as row `max_rows + 1` is
/// reached.
std::vector<std::string> ParseRecipientsCsv(std::string_view csv,
                                            std::size_t max_rows = kUploadMaxRows);

/// A broadcast's WhatsApp template: {"name", "language"?: "en_US", "parameters"?: [text, …]}.
/// Names are Meta's (lower case, digits, underscores); at most 10 parameters of 1–1024
/// characters. Throws InputError naming "template.<field>".
channel::Template ParseTemplate(const nlohmann::json& value);

}  // namespace crm::slice
