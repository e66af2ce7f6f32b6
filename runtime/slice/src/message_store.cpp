#include "crm/slice/message_store.hpp"

#include "crm/db/json.hpp"
#include "crm/error.hpp"
#include "crm/queue/store.hpp"

namespace crm::slice {
namespace {

using nlohmann::json;

constexpr const char* kMessageColumns =
    "id, conversation_id, direction, body, status, error, created_at";

}  // namespace

json MessageStore::Add(long long id, const std::string& direction, const std::string& text) {
  auto rows = tx_.exec_params(
      std::string("WITH m AS (INSERT INTO messages (conversation_id, direction, body, status) "
                  "  SELECT id, $2, $3, CASE WHEN $2 = 'inbound' THEN 'received' ELSE 'queued' "
                  "END FROM conversations WHERE id = $1 RETURNING *), "
                  "u AS (UPDATE conversations SET last_message_at = now(), "
                  "  unread = unread + CASE WHEN $2 = 'inbound' THEN 1 ELSE 0 END WHERE id = $1) "
                  "SELECT row_to_json(x)::text, (SELECT c.phone FROM conversations v JOIN "
                  "contacts c ON c.id = v.contact_id WHERE v.id = $1) FROM (SELECT ") +
          kMessageColumns + " FROM m) x",
      id, direction, text);
  if (rows.empty()) {
    throw NotFound("no conversation with id " + std::to_string(id));
  }
  json message = db::JsonOf(rows[0][0]);
  if (direction == "outbound") {
    Queue(message, rows[0][1].c_str());
  }
  return message;
}

void MessageStore::Queue(const json& message, const std::string& to) {
  queued_to_ = to;
  if (queue_here_) {
    queue::EnqueueMessage(tx_, message["id"].get<long long>(), to,
                          message["body"].get<std::string>());
  }
}

json MessageStore::Send(long long contact_id, const std::string& phone, const std::string& text) {
  if (contact_id == 0) {
    contact_id = tx_.exec_params1(
                        "INSERT INTO contacts (name, phone) VALUES ($1, $1) "
                        "ON CONFLICT (phone) DO UPDATE SET phone = EXCLUDED.phone RETURNING id",
                        phone)[0]
                     .as<long long>();
  }
  auto contact = tx_.exec_params("SELECT phone FROM contacts WHERE id = $1", contact_id);
  if (contact.empty()) {
    throw NotFound("no contact with id " + std::to_string(contact_id), "contact_id");
  }
  std::string to = contact[0][0].c_str();
  auto row = tx_.exec_params1(
      std::string("WITH v AS (INSERT INTO conversations (contact_id) VALUES ($1) "
                  "  ON CONFLICT (contact_id) DO UPDATE SET last_message_at = now() "
                  "  RETURNING id), "
                  "m AS (INSERT INTO messages (conversation_id, direction, body) "
                  "  SELECT id, 'outbound', $2 FROM v RETURNING *) "
                  "SELECT row_to_json(x)::text FROM (SELECT ") +
          kMessageColumns + " FROM m) x",
      contact_id, text);
  json message = db::JsonOf(row[0]);
  tx_.exec_params("UPDATE conversations SET last_message_at = now() WHERE id = $1",
                  message["conversation_id"].get<long long>());
  Queue(message, to);
  return message;
}

std::optional<TakenIn> MessageStore::TakeIn(const channel::InboundMessage& inbound) {
  auto row = tx_.exec_params1(
      "WITH c AS ("
      "  INSERT INTO contacts (name, phone) VALUES (left(coalesce(nullif($1, ''), $2), 200), $2) "
      "  ON CONFLICT (phone) DO UPDATE SET phone = EXCLUDED.phone "
      "  RETURNING id, (xmax = 0) AS created, row_to_json(contacts)::text AS contact), "
      "v AS ("
      "  INSERT INTO conversations (contact_id) SELECT id FROM c "
      "  ON CONFLICT (contact_id) DO UPDATE SET contact_id = EXCLUDED.contact_id RETURNING id), "
      "m AS ("
      "  INSERT INTO messages (conversation_id, direction, body, status, provider_id) "
      "  SELECT v.id, 'inbound', left($3, 4096), 'received', $4 FROM v "
      "  ON CONFLICT (provider_id) WHERE provider_id IS NOT NULL DO NOTHING "
      "  RETURNING id, conversation_id, direction, body, status, error, created_at) "
      "SELECT (SELECT row_to_json(m)::text FROM m), (SELECT created FROM c), "
      "  (SELECT contact FROM c)",
      inbound.profile_name, inbound.from, inbound.text, inbound.provider_id);
  if (row[0].is_null()) {
    return std::nullopt;  // a repeated message id: already taken in
  }
  TakenIn taken;
  taken.message = db::JsonOf(row[0]);
  if (row[1].as<bool>()) {
    taken.new_contact = db::JsonOf(row[2]);
  }
  taken.conversation = db::JsonOf(tx_.exec_params1(
      "UPDATE conversations SET unread = unread + 1, last_message_at = now() WHERE id = $1 "
      "RETURNING json_build_object('id', id, 'unread', unread, 'last_message_at', "
      "last_message_at)::text",
      taken.message["conversation_id"].get<long long>())[0]);
  return taken;
}

}  // namespace crm::slice
