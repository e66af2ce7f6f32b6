#include "crm/http/json_body.hpp"

#include <algorithm>
#include <boost/beast/core/string.hpp>

#include "crm/error.hpp"
#include "crm/http/protocol_error.hpp"
#include "crm/json.hpp"

namespace crm::http {

// PostgreSQL's text cannot hold NUL, and C strings end at it: a name "Ana\u0000x" would be stored
// as "Ana" or fail the insert. Refused wherever it is, naming the first field that holds one
// ("name", "tags[2]", "template.parameters[0]"). The depth bound keeps RefuseNul's recursion short.
void RefuseNulAt(const std::string& where) {
  std::string field = where.empty() ? "body" : where;
  throw InputError(field + ": contains a NUL character (\\u0000), which text cannot hold",
                   field.substr(0, field.find('[')));
}

namespace {

void RefuseNul(const nlohmann::json& value, const std::string& path) {
  if (value.is_string()) {
    if (value.get_ref<const std::string&>().find('\0') != std::string::npos) {
      RefuseNulAt(path);
    }
  } else if (value.is_array()) {
    for (std::size_t i = 0; i < value.size(); ++i) {
      RefuseNul(value[i], path + "[" + std::to_string(i) + "]");
    }
  } else if (value.is_object()) {
    for (const auto& [key, item] : value.items()) {
      std::string where = path.empty() ? key : path + "." + key;
      if (key.find('\0') != std::string::npos) {
        RefuseNulAt(where);
      }
      RefuseNul(item, where);
    }
  }
}

}  // namespace

void RequireJsonContentType(const Request& request) {
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
}

void CheckJsonBody(const nlohmann::json& body, std::string_view text) {
  if (text.find("\\u0000") != std::string::npos) {
    RefuseNul(body, "");
  }
  if (!body.is_object()) {
    throw InputError("expected a JSON object");
  }
}

nlohmann::json ParseJsonBody(const Request& request) {
  RequireJsonContentType(request);
  nlohmann::json body = ParseJson(request.body(), "");
  CheckJsonBody(body, request.body());
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
  if (value.find('\0') != std::string::npos) {
    // Bodies are checked at parse time; this catches values built from other input (CSV cells).
    throw InputError(field + ": contains a NUL character, which text cannot hold", field);
  }
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
