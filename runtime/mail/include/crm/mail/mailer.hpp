// The mailer: one thread in each gateway that sends gateway.outbox_emails through a
// MailTransport. Several gateways may run one each: a row is claimed FOR UPDATE SKIP LOCKED in
// its own transaction for the length of its send, so no two send it. Failures are retried with
// exponential backoff and jitter, then the row is dead. It wakes on NOTIFY crm_mail (queued by
// MailOutbox::Queue) or every `poll`.
#pragma once

#include <pqxx/pqxx>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "crm/mail/outbox.hpp"
#include "crm/mail/transport.hpp"

namespace crm::mail {

struct MailerOptions {
  std::string from = "CRM <no-reply@localhost>";  ///< the From mailbox
  SmtpOptions smtp;                               ///< smtp.url empty: .eml files instead
  std::filesystem::path eml_dir;                  ///< where .eml files go (<data_dir>/mail)
  int max_attempts = 8;                           ///< tries before a row is dead
  std::chrono::milliseconds retry_base{30'000};
  std::chrono::milliseconds retry_cap{3'600'000};
  std::chrono::milliseconds poll{10'000};  ///< looks this often even without a NOTIFY
};

/// The wait before try `attempt` + 1 after `attempt` failed tries (1, 2, …): exponential with
/// equal jitter, min(retry_cap, retry_base · 2^(attempt−1)) · (1 + u) / 2 for u uniform in
/// [0, 1) — with the defaults 15–30 s, 30–60 s, 1–2 min, … up to 32–64 min.
std::chrono::milliseconds MailRetryDelay(int attempt, const MailerOptions& options, double u);

/// The transport `options` ask for: SMTP when smtp.url is set, .eml files otherwise.
std::unique_ptr<MailTransport> MakeTransport(const MailerOptions& options);

/// What a mailer builds for a row: its template rendered (or its stored subject and body).
/// Throws InputError for an unknown template (retrying cannot help).
Mail MailFor(const OutboxMail& row, const std::string& from);

/// Opens the mailer's own connection to the gateway's database.
using Connect = std::function<std::unique_ptr<pqxx::connection>()>;

class Mailer {
 public:
  Mailer(MailerOptions options, Connect connect, std::unique_ptr<MailTransport> transport);
  ~Mailer();
  Mailer(const Mailer&) = delete;
  Mailer& operator=(const Mailer&) = delete;

  void Start();
  /// Cancels a send in progress (its row is retried later), and returns once the thread ended.
  void Stop();

  struct Stats {
    long long sent = 0;
    long long retried = 0;
    long long dead = 0;
  };
  Stats stats() const;

 private:
  void Run();
  /// Claims, sends and records one due row; false when none was due.
  bool SendOne();
  void Sleep(std::chrono::milliseconds at_most);

  MailerOptions options_;
  Connect connect_;
  std::unique_ptr<MailTransport> transport_;
  std::unique_ptr<pqxx::connection> connection_;
  struct Listener;
  std::unique_ptr<Listener> listener_;
  std::mt19937_64 random_{std::random_device{}()};

  std::atomic<bool> running_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  mutable std::mutex stats_mutex_;
  Stats stats_;
  std::thread thread_;
};

}  // namespace crm::mail
