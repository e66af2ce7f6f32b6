#include "crm/slice/conversation_store.hpp"

#include <string>

#include "crm/db/json.hpp"
#include "crm/error.hpp"
#include "crm/slice/contact_store.hpp"
#include "crm/slice/page.hpp"

namespace crm::slice {
namespace {

using nlohmann::json;

const std::string kConversationJson =
    "SELECT json_build_object('id', v.id, 'contact', json_build_object('id', c.id, 'name', "
    "c.name, 'phone', c.phone), 'last_message_at', v.last_message_at, 'unread', v.unread, "
    "'created_at', v.created_at)::text "
    "FROM conversations v JOIN contacts c ON c.id = v.contact_id ";

const std::string kMessageJson =
    "SELECT row_to_json(m)::text FROM (SELECT id, conversation_id, direction, body, status, "
    "error, created_at FROM messages ";

NotFound NoConversation(long long id) {
  return NotFound("no conversation with id " + std::to_string(id));
}

}  // namespace

json ConversationStore::List(long long before, const std::string& query, int limit) {
  // $1::bigint: compared with the literal 0 alone, the cursor was typed integer, and one beyond
  // 2^31 failed the statement (a 500) instead of reading as "after every id".
  return db::JsonArrayOf(tx_.exec_params(
      kConversationJson +
          "WHERE ($1::bigint = 0 OR v.id < $1) AND ($2::text = '' OR c.name ILIKE $3 OR "
          "c.phone LIKE $3) ORDER BY v.id DESC LIMIT $4",
      before, query, LikeContaining(query), limit));
}

json ConversationStore::MarkRead(long long id) {
  if (tx_.exec_params("UPDATE conversations SET unread = 0 WHERE id = $1", id).affected_rows() ==
      0) {
    throw NoConversation(id);
  }
  return Get(id);
}

std::pair<json, bool> ConversationStore::Open(long long contact_id) {
  if (!ContactStore(tx_).Exists(contact_id)) {
    throw NotFound("no contact with id " + std::to_string(contact_id));
  }
  auto inserted = tx_.exec_params(
      "INSERT INTO conversations (contact_id) VALUES ($1) ON CONFLICT (contact_id) DO NOTHING "
      "RETURNING id",
      contact_id);
  auto row = tx_.exec_params1(kConversationJson + "WHERE v.contact_id = $1", contact_id);
  return {db::JsonOf(row[0]), !inserted.empty()};
}

json ConversationStore::Range(long long after, long long upto, int limit) {
  return db::JsonArrayOf(
      tx_.exec_params(kConversationJson + "WHERE v.id > $1 AND v.id <= $2 ORDER BY v.id LIMIT $3",
                      after, upto, limit));
}

json ConversationStore::Get(long long id) {
  auto rows = tx_.exec_params(kConversationJson + "WHERE v.id = $1", id);
  if (rows.empty()) {
    throw NoConversation(id);
  }
  return db::JsonOf(rows[0][0]);
}

json ConversationStore::Messages(long long id, long long before, int limit) {
  if (tx_.exec_params("SELECT 1 FROM conversations WHERE id = $1", id).empty()) {
    throw NoConversation(id);
  }
  // $2::bigint: see List.
  return db::JsonArrayOf(tx_.exec_params(
      kMessageJson +
          "WHERE conversation_id = $1 AND ($2::bigint = 0 OR id < $2) ORDER BY id DESC LIMIT $3) m",
      id, before, limit));
}

json ConversationStore::MessageRange(long long after, long long upto, int limit) {
  return db::JsonArrayOf(tx_.exec_params(
      kMessageJson + "WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3) m", after, upto, limit));
}

}  // namespace crm::slice
