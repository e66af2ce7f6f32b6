// The SQL of a slice's inbox messages: typed in a conversation, sent to a contact (queued for
// the dispatcher in the same transaction), and taken in from the channel. Runs inside the
// caller's transaction; the caller commits.
#pragma once

#include <pqxx/pqxx>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "crm/channel/channel.hpp"

namespace crm::slice {

/// What taking an inbound message in changed, for the live events.
struct TakenIn {
  nlohmann::json message;
  std::optional<nlohmann::json> new_contact;  ///< when the sender was not a contact yet
  nlohmann::json conversation;                ///< {id, unread, last_message_at}
};

class MessageStore {
 public:
  /// `queue_here`: an outbound message's task is queued in `tx` too (the queue is in the
  /// slice's schema); false: the caller queues it in the queue database (queued_recipient()).
  explicit MessageStore(pqxx::work& tx, bool queue_here = true)
      : tx_(tx), queue_here_(queue_here) {}

  /// Adds a message to conversation `id`: "outbound" ones are queued for sending, "inbound" ones
  /// (recorded by hand) count as unread. Throws NotFound when there is no such conversation.
  nlohmann::json Add(long long id, const std::string& direction, const std::string& text);
  /// Sends `text` to contact `contact_id`, or (when 0) to `phone`, made a contact when new; the
  /// conversation is opened when there is none, the message queued. Throws NotFound naming
  /// "contact_id".
  nlohmann::json Send(long long contact_id, const std::string& phone, const std::string& text);
  /// An inbound message from the channel: the contact and the conversation are created when new,
  /// the conversation's unread count goes up. nullopt for a message id already taken in.
  std::optional<TakenIn> TakeIn(const channel::InboundMessage& inbound);
  /// The phone the last outbound message of Add or Send goes to (empty: none).
  const std::string& queued_recipient() const { return queued_to_; }

 private:
  void Queue(const nlohmann::json& message, const std::string& to);

  pqxx::work& tx_;
  bool queue_here_;
  std::string queued_to_;
};

}  // namespace crm::slice
