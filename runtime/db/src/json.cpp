#include "crm/db/json.hpp"

#include <string_view>

#include "crm/error.hpp"
#include "crm/json.hpp"

namespace crm::db {

nlohmann::json JsonOf(const pqxx::field& field) {
  try {
    return ParseJson(std::string_view(field.c_str(), field.size()), "");
  } catch (const InputError& e) {
    // Our own rows: what does not read back is the environment's fault, not the caller's.
    throw RuntimeError(std::string("a JSON column of ") + field.name() +
                       " did not read back: " + e.what());
  }
}

nlohmann::json JsonArrayOf(const pqxx::result& rows) {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& r : rows) {
    items.push_back(JsonOf(r[0]));
  }
  return items;
}

}  // namespace crm::db
