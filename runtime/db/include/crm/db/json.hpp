// Rows that PostgreSQL already shaped as JSON (row_to_json, json_build_object), read back.
#pragma once

#include <pqxx/pqxx>

#include <nlohmann/json.hpp>

namespace crm::db {

/// The JSON document in `field` (a json/text column), read through crm::ParseJson. Throws
/// RuntimeError when it does not parse or nests deeper than kMaxJsonDepth.
nlohmann::json JsonOf(const pqxx::field& field);
/// The JSON documents in the first column of `rows`, as an array.
nlohmann::json JsonArrayOf(const pqxx::result& rows);

}  // namespace crm::db
