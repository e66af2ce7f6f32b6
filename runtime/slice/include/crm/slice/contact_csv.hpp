// Contacts read from a CSV upload (POST /api/contacts/import).
#pragma once

#include <string_view>
#include <vector>

#include "crm/slice/validation.hpp"

namespace crm::slice {

/// Contacts from a CSV upload: a header row naming a `name` column, a phone column (the names a
/// broadcast upload accepts: phone, number, mobile, whatsapp, wa_id, phone_number) and
/// optionally `tags` ("|"-separated); any case; other columns are ignored. `,` or `;`
/// separators, `"` quoting, a UTF-8 BOM and blank lines are fine. Every row is validated as a
/// POST /api/contacts body is. Throws InputError naming up to ten bad rows by line
/// ("line 4: phone: …"); then nothing is returned. More than `max_rows` rows: http::TooLarge (413),
/// thrown as row `max_rows + 1` is reached.
std::vector<ContactInput> ParseContactsCsv(std::string_view csv,
                                           std::size_t max_rows = kUploadMaxRows);

}  // namespace crm::slice
