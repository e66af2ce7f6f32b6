#include "crm/http/json_body.hpp"

#include <algorithm>
#include <boost/beast/core/string.hpp>

#include "crm/error.hpp"
#include "crm/http/protocol_error.hpp"

namespace crm::http {

nlohmann::json ParseJsonBody(const Request& request) {
  auto type = request[bhttp::field::content_type];
  auto semi = type.find(';');
  std::string_view media = type.substr(0, semi);
  while (!media.empty() && media.back() == ' ') {
    media.remove_suffix(1);
  }
  if (!beast::iequals(media, "application/json")) {
    throw ClientError(Status::unsupported_media_type,
                      "expected Content-Type: application/json, got \"" + std::string(type) + "\"");
  }
  nlohmann::json body;
  try {
    body = nlohmann::json::parse(request.body());
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte is the 1-based offset of the error; turn it into line:column for people.
    std::size_t line = 1;
    std::size_t col = 1;
    for (std::size_t i = 0; i + 1 < e.byte && i < request.body().size(); ++i) {
      if (request.body()[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    throw InputError("malformed JSON at line " + std::to_string(line) + " column " +
                     std::to_string(col));
  } catch (const nlohmann::json::exception& e) {
    // Well-formed but unrepresentable, such as a number beyond double's range (found by fuzzing).
    throw InputError(std::string("JSON not accepted: ") + e.what());
  }
  if (!body.is_object()) {
    throw InputError("expected a JSON object");
  }
  return body;
}

void RefuseUnknownFields(const nlohmann::json& body, std::initializer_list<std::string_view> known,
                         std::string_view expected) {
  for (const auto& [key, value] : body.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      throw InputError("unknown field '" + key + "' (expected " + std::string(expected) + ")", key);
    }
  }
}

nlohmann::json ParseOptionalJsonBody(const Request& request) {
  return request.body().empty() ? nlohmann::json::object() : ParseJsonBody(request);
}

namespace {

std::size_t Utf8Length(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) {
      ++n;
    }
  }
  return n;
}

}  // namespace

std::optional<std::string> OptionalString(const nlohmann::json& body, const std::string& field,
                                          std::size_t min_len, std::size_t max_len) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) {
    return std::nullopt;
  }
  if (!it->is_string()) {
    throw InputError(field + ": expected a string", field);
  }
  std::string value = it->get<std::string>();
  std::size_t len = Utf8Length(value);
  if (len < min_len || len > max_len) {
    throw InputError(field + ": expected " + std::to_string(min_len) + " to " +
                         std::to_string(max_len) + " characters, got " + std::to_string(len),
                     field);
  }
  return value;
}

std::string RequireString(const nlohmann::json& body, const std::string& field, std::size_t min_len,
                          std::size_t max_len) {
  auto value = OptionalString(body, field, min_len, max_len);
  if (!value) {
    throw InputError(field + ": required", field);
  }
  return *value;
}

}  // namespace crm::http
