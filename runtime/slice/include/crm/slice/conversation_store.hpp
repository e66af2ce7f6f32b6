// The SQL of a slice's conversations (one per contact) and of the messages listed in them,
// answered as the API's JSON. Runs inside the caller's transaction; the caller commits.
#pragma once

#include <pqxx/pqxx>

#include <nlohmann/json.hpp>
#include <string>
#include <utility>

namespace crm::slice {

class ConversationStore {
 public:
  explicit ConversationStore(pqxx::transaction_base& tx) : tx_(tx) {}

  /// Up to `limit` conversations with ids below `before` (0 = from the newest), newest first;
  /// `query` ("" = all) matches the contact's name (case-insensitive, anywhere) or phone.
  nlohmann::json List(long long before, const std::string& query, int limit);
  /// Sets the unread count to 0 and returns the conversation. Throws NotFound.
  nlohmann::json MarkRead(long long id);
  /// The contact's conversation, opened when it has none; `second` is true when it was opened
  /// now. Throws NotFound when there is no such contact.
  std::pair<nlohmann::json, bool> Open(long long contact_id);
  /// Up to `limit` conversations with ids in (`after`, `upto`], oldest first (an export's pages).
  nlohmann::json Range(long long after, long long upto, int limit);
  /// Throws NotFound.
  nlohmann::json Get(long long id);
  /// Up to `limit` of the conversation's messages with ids below `before` (0 = from the newest),
  /// newest first. Throws NotFound when there is no such conversation.
  nlohmann::json Messages(long long id, long long before, int limit);
  /// Up to `limit` messages of every conversation with ids in (`after`, `upto`], oldest first
  /// (an export's pages).
  nlohmann::json MessageRange(long long after, long long upto, int limit);

 private:
  pqxx::transaction_base& tx_;
};

}  // namespace crm::slice
