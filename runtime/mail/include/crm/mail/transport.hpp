// Where a built message goes: an SMTP server (libcurl; plain, STARTTLS when offered, or implicit
// TLS) or, without one, an .eml file per message for a demo user to open.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "crm/mail/message.hpp"

namespace crm::mail {

class MailTransport {
 public:
  virtual ~MailTransport() = default;
  /// Delivers `message` (BuildMessage's output) from mail.from to mail.to. Returns once the
  /// receiving side accepted it; throws RuntimeError with the reason otherwise (the mailer
  /// retries).
  virtual void Send(const Mail& mail, const std::string& message) = 0;
  /// Asks a Send in progress on another thread to give up soon (shutdown). Idempotent.
  virtual void Cancel() {}
};

struct SmtpOptions {
  /// smtp://host:port (STARTTLS when the server offers it, plain otherwise) or
  /// smtps://host:port (implicit TLS).
  std::string url;
  std::string user;      ///< empty: no authentication
  std::string password;  ///< from CRM_SMTP_PASSWORD_FILE
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds timeout{60'000};  ///< the whole conversation
};

/// Throws InputError (field "smtp_url") unless the URL is smtp:// or smtps:// with a host.
std::unique_ptr<MailTransport> MakeSmtpTransport(SmtpOptions options);

/// Writes each message to `directory`/<id>.eml (atomically, mode 0600: it may hold a reset link)
/// and logs its path, To and Subject at info.
std::unique_ptr<MailTransport> MakeFileTransport(std::filesystem::path directory);

}  // namespace crm::mail
