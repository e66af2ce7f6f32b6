#include "crm/slice/validation.hpp"

#include <charconv>
#include <set>

#include "crm/error.hpp"
#include "crm/http/json_body.hpp"

namespace crm::slice {

std::optional<std::string> TryNormalizePhone(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')') {
      continue;
    }
    out += c;
  }
  bool ok = out.size() >= 8 && out.size() <= 16 && out[0] == '+' && out[1] >= '1' &&
            out[1] <= '9' && out.find_first_not_of("0123456789", 1) == std::string::npos;
  if (!ok) {
    return std::nullopt;
  }
  return out;
}

std::string PhoneError(const std::string& field, std::string_view text) {
  return field +
         ": expected an E.164 number (\"+\", country code, 7 to 15 digits in all), such as "
         "+14155550123, got \"" +
         std::string(text) + "\"";
}

std::string NormalizePhone(const std::string& text, const std::string& field) {
  auto phone = TryNormalizePhone(text);
  if (!phone) {
    throw InputError(PhoneError(field, text), field);
  }
  return std::move(*phone);
}

ContactInput ParseContact(const nlohmann::json& body, bool partial) {
  http::RefuseUnknownFields(body, {"name", "phone", "tags"}, "name, phone, tags");
  ContactInput in;
  in.name = partial ? http::OptionalString(body, "name", 1, 200)
                    : http::RequireString(body, "name", 1, 200);
  if (auto phone = partial ? http::OptionalString(body, "phone", 1, 40)
                           : std::optional(http::RequireString(body, "phone", 1, 40))) {
    in.phone = NormalizePhone(*phone);
  }
  if (auto it = body.find("tags"); it != body.end() && !it->is_null()) {
    if (!it->is_array()) {
      throw InputError("tags: expected an array of strings", "tags");
    }
    if (it->size() > 20) {
      throw InputError("tags: at most 20 tags, got " + std::to_string(it->size()), "tags");
    }
    std::vector<std::string> tags;
    std::set<std::string> seen;
    for (const auto& tag : *it) {
      if (!tag.is_string() || tag.get<std::string>().empty() ||
          tag.get<std::string>().size() > 50) {
        throw InputError("tags: each tag must be a string of 1 to 50 characters", "tags");
      }
      if (tag.get_ref<const std::string&>().find('\0') != std::string::npos) {
        throw InputError("tags: contains a NUL character, which text cannot hold", "tags");
      }
      if (seen.insert(tag.get<std::string>()).second) {
        tags.push_back(tag.get<std::string>());
      }
    }
    in.tags = std::move(tags);
  }
  if (partial && !in.name && !in.phone && !in.tags) {
    throw InputError("nothing to change: give at least one of name, phone, tags");
  }
  return in;
}

long long ParseId(const std::string& text, const std::string& what) {
  long long id = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || id <= 0) {
    throw InputError(what + ": expected a positive whole number, got \"" + text + "\"", what);
  }
  return id;
}

int ParseLimit(const std::optional<std::string>& text) {
  if (!text) {
    return 50;
  }
  long long limit = ParseId(*text, "limit");
  if (limit > 100) {
    throw InputError("limit: at most 100, got " + *text, "limit");
  }
  return static_cast<int>(limit);
}

long long ContactIdField(const nlohmann::json& body) {
  auto it = body.find("contact_id");
  if (it == body.end() || !it->is_number_integer() || it->get<long long>() <= 0) {
    throw InputError("contact_id: expected the id of a contact (a positive whole number)",
                     "contact_id");
  }
  return it->get<long long>();
}

}  // namespace crm::slice
