#include "crm/mail/outbox.hpp"

#include <algorithm>
#include "crm/db/json.hpp"

namespace crm::mail {

long long MailOutbox::Queue(const std::string& to, const std::string& template_name,
                            const nlohmann::json& params) {
  long long id = tx_.exec_params1(
                        "INSERT INTO gateway.outbox_emails (to_address, template, params) "
                        "VALUES ($1, $2, $3::jsonb) RETURNING id",
                        to, template_name, params.dump())[0]
                     .as<long long>();
  tx_.exec_params("SELECT pg_notify($1, '')", std::string(kNotifyChannel));
  return id;
}

std::optional<OutboxMail> MailOutbox::ClaimDue() {
  auto rows = tx_.exec(
      "SELECT id, to_address, subject, body, coalesce(template, ''), params::text, attempts "
      "FROM gateway.outbox_emails "
      "WHERE sent_at IS NULL AND dead_at IS NULL AND next_attempt_at <= now() "
      "ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED");
  if (rows.empty()) {
    return std::nullopt;
  }
  const auto& r = rows[0];
  OutboxMail mail;
  mail.id = r[0].as<long long>();
  mail.to = r[1].as<std::string>();
  mail.subject = r[2].as<std::string>();
  mail.body = r[3].as<std::string>();
  mail.template_name = r[4].as<std::string>();
  mail.params = db::JsonOf(r[5]);
  mail.attempts = r[6].as<int>();
  return mail;
}

void MailOutbox::MarkSent(long long id) {
  tx_.exec_params("UPDATE gateway.outbox_emails SET sent_at = now() WHERE id = $1", id);
}

void MailOutbox::MarkRetry(long long id, const std::string& error,
                           std::chrono::milliseconds delay) {
  tx_.exec_params(
      "UPDATE gateway.outbox_emails SET attempts = attempts + 1, last_error = $2, "
      "next_attempt_at = now() + $3 * interval '1 millisecond' WHERE id = $1",
      id, error, static_cast<long long>(delay.count()));
}

void MailOutbox::MarkDead(long long id, const std::string& error) {
  tx_.exec_params(
      "UPDATE gateway.outbox_emails SET attempts = attempts + 1, last_error = $2, dead_at = now() "
      "WHERE id = $1",
      id, error);
}

std::optional<std::chrono::milliseconds> MailOutbox::NextDueIn() {
  // Not greatest(0, …) in SQL: it ignores a NULL, so an empty outbox read as "due now" and the
  // mailer polled it a thousand times a second.
  auto r = tx_.exec1(
      "SELECT (extract(epoch FROM min(next_attempt_at) - now()) * 1000)::bigint "
      "FROM gateway.outbox_emails WHERE sent_at IS NULL AND dead_at IS NULL");
  if (r[0].is_null()) {
    return std::nullopt;
  }
  return std::chrono::milliseconds(std::max(0LL, r[0].as<long long>()));
}

}  // namespace crm::mail
