// The SQL of gateway.outbox_emails: queueing a mail (and waking the mailers), claiming one that
// is due without blocking another mailer, and recording what happened to it. Runs inside the
// caller's transaction; the caller commits.
#pragma once

#include <pqxx/pqxx>

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace crm::mail {

/// The channel mailers LISTEN on; Queue notifies it (delivered when the caller commits).
inline constexpr const char* kNotifyChannel = "crm_mail";

/// A row due for sending. Rows from before templates have `template_name` empty and carry their
/// text in subject and body.
struct OutboxMail {
  long long id = 0;
  std::string to;
  std::string subject;
  std::string body;
  std::string template_name;
  nlohmann::json params = nlohmann::json::object();
  int attempts = 0;  ///< failed tries so far
};

class MailOutbox {
 public:
  explicit MailOutbox(pqxx::transaction_base& tx) : tx_(tx) {}

  /// Queues template `template_name` (templates/mail/) with `params` for `to`; returns the id.
  long long Queue(const std::string& to, const std::string& template_name,
                  const nlohmann::json& params);
  /// The oldest due row, locked FOR UPDATE SKIP LOCKED: another mailer's transaction skips it
  /// until this one ends. nullopt when none is due.
  std::optional<OutboxMail> ClaimDue();
  void MarkSent(long long id);
  /// One more failed try; the next one no sooner than `delay` from now.
  void MarkRetry(long long id, const std::string& error, std::chrono::milliseconds delay);
  /// One more failed try, the last: the row is dead and never tried again.
  void MarkDead(long long id, const std::string& error);
  /// When the next row is due (nullopt: none waiting).
  std::optional<std::chrono::milliseconds> NextDueIn();

 private:
  pqxx::transaction_base& tx_;
};

}  // namespace crm::mail
