// Validation of a tenant's CRM input: phone numbers (E.164), contact fields, tags, ids.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace crm::slice {

/// The default most recipients in one broadcast and rows in one contact import (the setting
/// upload_max_rows): beyond it an upload is refused (413) while it is read.
inline constexpr std::size_t kUploadMaxRows = 50'000;

/// Normalises a phone number to E.164: spaces, dashes, dots and parentheses are dropped; the
/// result must be "+" and 7–15 digits, the first not 0. Throws InputError naming `field`.
std::string NormalizePhone(const std::string& text, const std::string& field = "phone");
/// The same without throwing: nullopt when `text` is no such number.
std::optional<std::string> TryNormalizePhone(std::string_view text);
/// What NormalizePhone says of `text`, which TryNormalizePhone refused, in `field`.
std::string PhoneError(const std::string& field, std::string_view text);

struct ContactInput {
  std::optional<std::string> name;
  std::optional<std::string> phone;
  std::optional<std::vector<std::string>> tags;
};

/// Reads a contact body. `partial` (PATCH) makes every field optional but requires one; unknown
/// fields are refused so a typo ("nmae") is not silently ignored.
ContactInput ParseContact(const nlohmann::json& body, bool partial);

/// A positive row id from a path segment or cursor; InputError naming `what` otherwise.
long long ParseId(const std::string& text, const std::string& what);

/// ?limit= : 1..100, default 50.
int ParseLimit(const std::optional<std::string>& text);

/// The body's "contact_id": a positive whole number; InputError naming it otherwise (or when
/// it is missing).
long long ContactIdField(const nlohmann::json& body);

}  // namespace crm::slice
