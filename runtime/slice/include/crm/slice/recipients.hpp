// A broadcast's recipients and template, read from a request: a JSON list or a CSV upload of
// phone numbers, and an approved WhatsApp template.
#pragma once

#include <cstddef>
#include <exception>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "crm/http/message.hpp"
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

/// A broadcast's JSON body (POST /api/broadcasts), read in one pass: the entries of its top-level
/// "recipients" array are normalised and de-duplicated as ParseRecipients does as they are read,
/// without being built as a document; every other field is in `fields`.
struct BroadcastJson {
  nlohmann::json fields;            // the body but for a "recipients" array
  bool has_recipient_list = false;  // "recipients" was an array (a non-array stays in `fields`)
  std::vector<std::string> recipients;
  std::exception_ptr recipients_error;  // InputError naming the bad entries, as ParseRecipients'
  /// The list's numbers, or throws what was wrong with some of them.
  std::vector<std::string> TakeRecipients();
};

/// Reads a broadcast's JSON body with the checks of http::ParseJsonBody (media type, syntax,
/// depth, NUL characters, an object). More than `max_rows` entries in the list, or more than
/// `max_rows` + 100 values in all (a list under another key), throw http::TooLarge (413) as they
/// are counted: no list of any length is held in memory.
BroadcastJson ReadBroadcastJson(const http::Request& request, std::size_t max_rows);

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
