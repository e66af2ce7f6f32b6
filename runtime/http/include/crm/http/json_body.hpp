// Request bodies as JSON: the parse (media type, syntax errors by line and column) and typed
// readers for their fields.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "crm/http/message.hpp"

namespace crm::http {

/// Parses the body as a JSON object through crm::ParseJson (nesting at most kMaxJsonDepth deep).
/// Throws ClientError 415 when the Content-Type is not JSON, InputError naming the line and
/// column when it does not parse or nests too deep, InputError naming the field when a string or
/// key holds a NUL character (text columns cannot), or when it is not an object.
nlohmann::json ParseJsonBody(const Request& request);
/// ParseJsonBody in parts, for a body read another way (a SAX reader: a broadcast's recipients).
/// 415 unless the Content-Type is JSON:
void RequireJsonContentType(const Request& request);
/// InputError unless `body` (parsed from `text`) is an object with no NUL character in any string
/// or key, naming the first field that holds one:
void CheckJsonBody(const nlohmann::json& body, std::string_view text);
/// The same refusal for one string read outside the document, which holds a NUL, named `where`
/// ("recipients[3]"):
[[noreturn]] void RefuseNulAt(const std::string& where);

/// As ParseJsonBody, but an empty body reads as {} (actions whose fields are all optional).
nlohmann::json ParseOptionalJsonBody(const Request& request);

/// Throws InputError "unknown field 'nmae' (expected <expected>)" naming the first field of
/// `body` not in `known`, so that a typo is not silently ignored.
void RefuseUnknownFields(const nlohmann::json& body, std::initializer_list<std::string_view> known,
                         std::string_view expected);

/// Typed field readers for request bodies: each throws InputError naming the field (also for a
/// NUL character in the value). Lengths are in characters (UTF-8), not bytes.
std::string RequireString(const nlohmann::json& body, const std::string& field, std::size_t min_len,
                          std::size_t max_len);
std::optional<std::string> OptionalString(const nlohmann::json& body, const std::string& field,
                                          std::size_t min_len, std::size_t max_len);

}  // namespace crm::http
