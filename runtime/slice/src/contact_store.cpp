#include "crm/slice/contact_store.hpp"

#include <algorithm>

#include "crm/db/json.hpp"
#include "crm/error.hpp"
#include "crm/slice/page.hpp"

namespace crm::slice {
namespace {

using nlohmann::json;

constexpr const char* kContactColumns = "id, name, phone, tags, created_at, updated_at";

NotFound NoContact(long long id) {
  return NotFound("no contact with id " + std::to_string(id));
}

Conflict DuplicatePhone(const std::string& phone) {
  return Conflict("a contact with phone " + phone + " already exists", "phone");
}

}  // namespace

json ContactStore::Create(const ContactInput& in) {
  try {
    auto row = tx_.exec_params1(
        "INSERT INTO contacts (name, phone, tags) "
        "SELECT $1, $2, coalesce(ARRAY(SELECT jsonb_array_elements_text($3::jsonb)), '{}') "
        "RETURNING row_to_json(contacts)::text",
        *in.name, *in.phone, in.tags ? json(*in.tags).dump() : "[]");
    return db::JsonOf(row[0]);
  } catch (const pqxx::unique_violation&) {
    throw DuplicatePhone(*in.phone);
  }
}

long long ContactStore::Import(const std::vector<ContactInput>& contacts) {
  // A thousand rows per statement: few round trips, and no statement parameter grows with the
  // file.
  constexpr std::size_t kBatch = 1000;
  long long created = 0;
  for (std::size_t from = 0; from < contacts.size(); from += kBatch) {
    json rows = json::array();
    for (std::size_t i = from; i < std::min(contacts.size(), from + kBatch); ++i) {
      const ContactInput& c = contacts[i];
      rows.push_back({{"name", *c.name},
                      {"phone", *c.phone},
                      {"tags", c.tags ? json(*c.tags) : json::array()}});
    }
    created += static_cast<long long>(
        tx_.exec_params(
               "INSERT INTO contacts (name, phone, tags) "
               "SELECT r.name, r.phone, "
               "coalesce(ARRAY(SELECT jsonb_array_elements_text(r.tags)), '{}') "
               "FROM jsonb_to_recordset($1::jsonb) AS r(name text, phone text, tags jsonb) "
               "ON CONFLICT (phone) DO NOTHING",
               rows.dump())
            .affected_rows());
  }
  return created;
}

json ContactStore::List(long long cursor, const std::string& query, int limit) {
  return db::JsonArrayOf(tx_.exec_params(
      std::string("SELECT row_to_json(t)::text FROM (SELECT ") + kContactColumns +
          " FROM contacts WHERE id > $1 AND ($2 = '' OR name ILIKE $3 OR phone LIKE $3 OR "
          "$2 = ANY(tags)) ORDER BY id LIMIT $4) t",
      cursor, query, LikeContaining(query), limit));
}

json ContactStore::Range(long long after, long long upto, int limit) {
  return db::JsonArrayOf(tx_.exec_params(std::string("SELECT row_to_json(t)::text FROM (SELECT ") +
                                             kContactColumns +
                                             " FROM contacts WHERE id > $1 AND id <= $2 "
                                             "ORDER BY id LIMIT $3) t",
                                         after, upto, limit));
}

json ContactStore::Get(long long id) {
  auto rows = tx_.exec_params(std::string("SELECT row_to_json(t)::text FROM (SELECT ") +
                                  kContactColumns + " FROM contacts WHERE id = $1) t",
                              id);
  if (rows.empty()) {
    throw NoContact(id);
  }
  return db::JsonOf(rows[0][0]);
}

json ContactStore::Update(long long id, const ContactInput& in) {
  try {
    auto rows = tx_.exec_params(
        "UPDATE contacts SET name = coalesce($2, name), phone = coalesce($3, phone), "
        "tags = CASE WHEN $4::jsonb = 'null'::jsonb THEN tags "
        "            ELSE coalesce(ARRAY(SELECT jsonb_array_elements_text($4::jsonb)), '{}') "
        "END, "
        "updated_at = now() WHERE id = $1 RETURNING row_to_json(contacts)::text",
        id, in.name ? in.name->c_str() : nullptr, in.phone ? in.phone->c_str() : nullptr,
        in.tags ? json(*in.tags).dump() : "null");
    if (rows.empty()) {
      throw NoContact(id);
    }
    return db::JsonOf(rows[0][0]);
  } catch (const pqxx::unique_violation&) {
    throw DuplicatePhone(*in.phone);
  }
}

void ContactStore::Delete(long long id) {
  if (tx_.exec_params("DELETE FROM contacts WHERE id = $1", id).affected_rows() == 0) {
    throw NoContact(id);
  }
}

bool ContactStore::Exists(long long id) {
  return !tx_.exec_params("SELECT 1 FROM contacts WHERE id = $1", id).empty();
}

std::vector<std::string> ContactStore::PhonesTagged(const std::string& tag, long long limit) {
  std::vector<std::string> phones;
  for (const auto& row : tx_.exec_params(
           "SELECT phone FROM contacts WHERE tags @> ARRAY[$1]::text[] ORDER BY id LIMIT $2", tag,
           limit)) {
    phones.emplace_back(row[0].c_str());
  }
  return phones;
}

}  // namespace crm::slice
