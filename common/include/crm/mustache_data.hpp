// JSON as mustache data, for the two places that render templates: deploy/render (configuration
// files) and runtime/mail (mail bodies).
#pragma once

#include <kainjow/mustache.hpp>
#include <nlohmann/json.hpp>
#include <string>

namespace crm {

/// `j` as kainjow::mustache data: objects and arrays as they are, strings as text, booleans as
/// sections ({{#has_replica}}), null as an empty section, numbers as their JSON text. Works for
/// nlohmann::json and nlohmann::ordered_json.
template <class Json>
kainjow::mustache::data ToMustache(const Json& j) {
  using Data = kainjow::mustache::data;
  if (j.is_object()) {
    Data d{Data::type::object};
    for (auto it = j.begin(); it != j.end(); ++it) {
      d.set(it.key(), ToMustache(it.value()));
    }
    return d;
  }
  if (j.is_array()) {
    Data d{Data::type::list};
    for (const auto& item : j) {
      d.push_back(ToMustache(item));
    }
    return d;
  }
  if (j.is_boolean()) {
    return j.template get<bool>() ? Data{Data::type::bool_true} : Data{Data::type::bool_false};
  }
  if (j.is_string()) {
    return Data{j.template get<std::string>()};
  }
  if (j.is_null()) {
    return Data{Data::type::bool_false};
  }
  return Data{j.dump()};
}

}  // namespace crm
