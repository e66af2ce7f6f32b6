#include "crm/mail/mailer.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "crm/error.hpp"
#include "crm/mail/templates.hpp"
#include "crm/queue/rate.hpp"

namespace crm::mail {
namespace {
using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;
}  // namespace

// LISTEN crm_mail; a notification just ends the wait.
struct Mailer::Listener : pqxx::notification_receiver {
  explicit Listener(pqxx::connection_base& c) : pqxx::notification_receiver(c, kNotifyChannel) {}
  void operator()(const std::string&, int) override {}
};

milliseconds MailRetryDelay(int attempt, const MailerOptions& options, double u) {
  // The outbound queue's formula (one backoff rule for the whole runtime), with mail's scale.
  return queue::RetryDelay(attempt, options.retry_base, options.retry_cap, u);
}

std::unique_ptr<MailTransport> MakeTransport(const MailerOptions& options) {
  if (options.smtp.url.empty()) {
    return MakeFileTransport(options.eml_dir);
  }
  return MakeSmtpTransport(options.smtp);
}

Mail MailFor(const OutboxMail& row, const std::string& from) {
  Mail mail;
  mail.id = row.id;
  mail.from = from;
  mail.to = row.to;
  if (row.template_name.empty()) {
    mail.subject = row.subject;  // queued before templates: sent as it was written
    mail.text = row.body;
    return mail;
  }
  MailContent content = RenderMail(row.template_name, row.params);
  mail.subject = std::move(content.subject);
  mail.text = std::move(content.text);
  mail.html = std::move(content.html);
  return mail;
}

Mailer::Mailer(MailerOptions options, Connect connect, std::unique_ptr<MailTransport> transport)
    : options_(std::move(options)),
      connect_(std::move(connect)),
      transport_(std::move(transport)) {}

Mailer::~Mailer() {
  Stop();
}

void Mailer::Start() {
  running_ = true;
  thread_ = std::thread([this] { Run(); });
}

void Mailer::Stop() {
  if (!running_.exchange(false)) {
    return;
  }
  transport_->Cancel();
  wake_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

Mailer::Stats Mailer::stats() const {
  std::lock_guard lock(stats_mutex_);
  return stats_;
}

void Mailer::Run() {
  while (running_) {
    try {
      if (!connection_) {
        connection_ = connect_();
        listener_ = std::make_unique<Listener>(*connection_);
      }
      connection_->get_notifs();  // what we are about to look at anyway
      while (running_ && SendOne()) {
      }
      std::optional<milliseconds> due;
      {
        pqxx::read_transaction tx(*connection_);
        due = MailOutbox(tx).NextDueIn();
      }
      Sleep(due ? std::clamp(*due, milliseconds(1), options_.poll) : options_.poll);
    } catch (const std::exception& e) {
      spdlog::warn("mailer: {}; trying again in {} ms", e.what(), options_.poll.count());
      listener_.reset();
      connection_.reset();
      Sleep(options_.poll);
    }
  }
  listener_.reset();
  connection_.reset();
}

bool Mailer::SendOne() {
  // One row per transaction, its lock held while it is sent: another mailer skips it, and a
  // crash mid-send leaves only that row to be sent again.
  pqxx::work tx(*connection_);
  MailOutbox outbox(tx);
  std::optional<OutboxMail> row = outbox.ClaimDue();
  if (!row) {
    return false;
  }
  std::string error;
  bool permanent = false;
  std::string to = row->to;
  try {
    Mail mail = MailFor(*row, options_.from);
    std::string message = BuildMessage(mail, std::chrono::system_clock::now(), NewMessageId(mail));
    transport_->Send(mail, message);
  } catch (const InputError& e) {
    error = e.what();
    permanent = true;  // a template or address that does not work will not work next time
  } catch (const std::exception& e) {
    error = e.what();
  }
  if (!running_ && !error.empty()) {
    return false;  // cancelled by Stop: not a try; the row stays due (the transaction rolls back)
  }
  if (error.empty()) {
    outbox.MarkSent(row->id);
    tx.commit();
    spdlog::debug("mail {} sent", row->id);
    std::lock_guard lock(stats_mutex_);
    ++stats_.sent;
    return true;
  }
  int tries = row->attempts + 1;
  if (permanent || tries >= options_.max_attempts) {
    outbox.MarkDead(row->id, error);
    tx.commit();
    spdlog::error("mail {} to {}: given up after {} {}: {}", row->id, to, tries,
                  tries == 1 ? "try" : "tries", error);
    std::lock_guard lock(stats_mutex_);
    ++stats_.dead;
    return true;
  }
  milliseconds delay =
      MailRetryDelay(tries, options_, std::uniform_real_distribution<double>(0, 1)(random_));
  outbox.MarkRetry(row->id, error, delay);
  tx.commit();
  spdlog::warn("mail {} to {}: try {} of {} failed, next in {} s: {}", row->id, to, tries,
               options_.max_attempts, delay.count() / 1000, error);
  std::lock_guard lock(stats_mutex_);
  ++stats_.retried;
  return true;
}

// Waits for a NOTIFY (when connected), Stop() or `at_most`, whichever comes first.
void Mailer::Sleep(milliseconds at_most) {
  auto until = SteadyClock::now() + at_most;
  while (running_) {
    auto left = std::chrono::duration_cast<milliseconds>(until - SteadyClock::now());
    if (left.count() <= 0) {
      return;
    }
    auto slice = std::min(left, milliseconds(250));  // Stop is seen within this
    if (connection_) {
      if (connection_->await_notification(0, static_cast<long>(slice.count()) * 1000) > 0) {
        return;
      }
    } else {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, slice, [this] { return !running_; });
    }
  }
}

}  // namespace crm::mail
