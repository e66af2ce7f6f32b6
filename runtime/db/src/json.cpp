#include "crm/db/json.hpp"

namespace crm::db {

nlohmann::json JsonOf(const pqxx::field& field) {
  return nlohmann::json::parse(field.c_str());
}

nlohmann::json JsonArrayOf(const pqxx::result& rows) {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& r : rows) {
    items.push_back(JsonOf(r[0]));
  }
  return items;
}

}  // namespace crm::db
