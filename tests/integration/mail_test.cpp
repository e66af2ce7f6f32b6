// The mailer against a real PostgreSQL and a real SMTP server (aiosmtpd on loopback): a reset
// mail arrives with its link, an outage is retried until the server is back, a mail that keeps
// failing is given up, the .eml fallback, and two mailers on one database never send a row twice.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <thread>

#include "crm/db/migrations.hpp"
#include "crm/mail/mailer.hpp"
#include "crm/mail/outbox.hpp"
#include "crm/ports.hpp"
#include "crm/testing/smtp_server.hpp"
#include "runtime_fixture.hpp"

namespace crm::testing {
namespace {

using namespace std::chrono_literals;

// Undoes quoted-printable soft breaks and the =XX escapes a link contains.
std::string DecodeQp(std::string text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '=' && text.compare(i + 1, 2, "\r\n") == 0) {
      i += 2;
    } else if (text[i] == '=' && text.compare(i + 1, 1, "\n") == 0) {
      i += 1;  // a maildir stores LF line ends
    } else if (text[i] == '=' && i + 2 < text.size() && std::isxdigit(text[i + 1]) &&
               std::isxdigit(text[i + 2])) {
      out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

// The reset token in a (quoted-printable) mail, or "".
std::string TokenIn(const std::string& message) {
  std::smatch m;
  std::string text = DecodeQp(message);
  if (std::regex_search(text, m, std::regex("/reset-password\\?token=([A-Za-z0-9_-]{43})"))) {
    return m[1];
  }
  return "";
}

// How long a mail may take to be sent or given up (Eventually polls until then).
constexpr std::chrono::milliseconds kWait = 20s;

class MailerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pg_ = PgCluster::Start();
    pqxx::connection c(pg_->ConnectionString());
    db::MigrateEverything(c);
  }
  void TearDown() override { pg_.reset(); }

  std::unique_ptr<mail::Mailer> MakeMailer(mail::MailerOptions options) {
    options.from = "CRM <no-reply@crm.example.com>";
    options.retry_base = 200ms;
    options.retry_cap = 400ms;
    options.poll = 200ms;
    options.smtp.connect_timeout = 2s;
    options.smtp.timeout = 5s;
    std::string conninfo = pg_->ConnectionString();
    return std::make_unique<mail::Mailer>(
        options, [conninfo] { return std::make_unique<pqxx::connection>(conninfo); },
        mail::MakeTransport(options));
  }

  long long Queue(const std::string& to, const std::string& link) {
    pqxx::connection c(pg_->ConnectionString());
    pqxx::work tx(c);
    long long id = mail::MailOutbox(tx).Queue(to, "password_reset",
                                              {{"link", link}, {"expires_in", "1 hour"}});
    tx.commit();
    return id;
  }

  std::string Row(long long id, const std::string& column) {
    return Sql(pg_->ConnectionString(),
               "SELECT " + column + " FROM gateway.outbox_emails WHERE id = " + std::to_string(id));
  }

  int Attempts(long long id) {
    std::string n = Row(id, "attempts");
    return n.empty() || n[0] == 'E' ? -1 : std::stoi(n);
  }

  std::unique_ptr<PgCluster> pg_;
};

std::optional<std::chrono::milliseconds> NextDueIn(const std::string& conninfo) {
  pqxx::connection c(conninfo);
  pqxx::read_transaction tx(c);
  return mail::MailOutbox(tx).NextDueIn();
}

TEST_F(MailerTest, AnEmptyOutboxHasNothingDueAndAnIdleMailerWaitsForItsPoll) {
  EXPECT_EQ(NextDueIn(pg_->ConnectionString()), std::nullopt) << "an empty outbox is not due";
  long long id = Queue("due@example.com", "https://crm.example.com/reset-password?token=x");
  EXPECT_EQ(NextDueIn(pg_->ConnectionString()), std::chrono::milliseconds(0)) << "due now";
  Sql(pg_->ConnectionString(), "UPDATE gateway.outbox_emails SET next_attempt_at = now() + "
                               "interval '1 hour' WHERE id = " + std::to_string(id));
  auto later = NextDueIn(pg_->ConnectionString());
  ASSERT_TRUE(later.has_value());
  EXPECT_GT(*later, 3'500s);
  Sql(pg_->ConnectionString(), "DELETE FROM gateway.outbox_emails");

  // An idle mailer looks at the outbox once per poll (200 ms here), not in a loop: over 2 s,
  // about 10 looks; the bug this guards against made thousands.
  auto transactions = [&] {
    // A backend adds its counts when it exits: wait until only this query's is left.
    EXPECT_TRUE(Eventually(
        [&] {
          return Sql(pg_->ConnectionString(),
                     "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                     "AND pid <> pg_backend_pid()") == "0";
        },
        kWait));
    return std::stoll(Sql(pg_->ConnectionString(),
                          "SELECT sum(xact_commit + xact_rollback) FROM pg_stat_database"));
  };
  long long before = transactions();
  auto mailer = MakeMailer({});
  mailer->Start();
  std::this_thread::sleep_for(2s);
  mailer->Stop();
  mailer.reset();
  EXPECT_LT(transactions() - before, 200) << "transactions while the mailer was idle for 2 s";
}

TEST_F(MailerTest, SmtpOutageIsRetriedUntilTheServerIsBack) {
  auto server = SmtpServer::Start(pg_->dir() / "maildir");
  int port = server->port();
  server->Stop();
  mail::MailerOptions options;
  options.smtp.url = "smtp://127.0.0.1:" + std::to_string(port);
  auto mailer = MakeMailer(options);
  mailer->Start();
  long long id = Queue("ana@example.com", "http://crm.example.com/reset-password?token=x");
  ASSERT_TRUE(Eventually([&] { return Attempts(id) >= 2; }, kWait))
      << "the mailer keeps trying while the server is down";
  EXPECT_NE(Row(id, "last_error"), "");
  EXPECT_EQ(Row(id, "sent_at"), "");
  server = SmtpServer::Start(pg_->dir() / "maildir", port);
  ASSERT_TRUE(Eventually([&] { return server->Messages().size() == 1; }, kWait));
  EXPECT_TRUE(Eventually([&] { return !Row(id, "sent_at").empty(); }, kWait));
  EXPECT_EQ(Row(id, "dead_at"), "");
  std::string message = server->Messages()[0];
  EXPECT_NE(message.find("To: <ana@example.com>"), std::string::npos) << message;
  EXPECT_NE(message.find("Content-Type: multipart/alternative"), std::string::npos);
  mailer->Stop();
  EXPECT_EQ(mailer->stats().sent, 1);
  EXPECT_GE(mailer->stats().retried, 2);
}

TEST_F(MailerTest, MailThatKeepsFailingIsGivenUpAfterMaxAttempts) {
  mail::MailerOptions options;
  options.smtp.url = "smtp://127.0.0.1:" + std::to_string(crm::FreeLoopbackPort());
  options.max_attempts = 3;
  auto mailer = MakeMailer(options);
  mailer->Start();
  long long id = Queue("ana@example.com", "http://x/reset-password?token=y");
  ASSERT_TRUE(Eventually([&] { return !Row(id, "dead_at").empty(); }, kWait));
  EXPECT_EQ(Row(id, "attempts"), "3");
  EXPECT_NE(Row(id, "last_error").find("smtp:"), std::string::npos) << Row(id, "last_error");
  EXPECT_EQ(Row(id, "sent_at"), "");
  std::this_thread::sleep_for(1s);  // a dead mail is never tried again (400 ms backoff cap)
  EXPECT_EQ(Row(id, "attempts"), "3");
  mailer->Stop();
  EXPECT_EQ(mailer->stats().dead, 1);
  EXPECT_EQ(mailer->stats().retried, 2);
}

TEST_F(MailerTest, RowsFromBeforeTemplatesAndUnknownTemplates) {
  auto server = SmtpServer::Start(pg_->dir() / "maildir");
  Sql(pg_->ConnectionString(),
      "INSERT INTO gateway.outbox_emails (to_address, subject, body) VALUES "
      "('old@example.com', 'Old subject', 'old body')");
  Sql(pg_->ConnectionString(),
      "INSERT INTO gateway.outbox_emails (to_address, template) VALUES "
      "('bad@example.com', 'no_such_template')");
  mail::MailerOptions options;
  options.smtp.url = server->url();
  auto mailer = MakeMailer(options);
  mailer->Start();
  ASSERT_TRUE(Eventually([&] { return server->Messages().size() == 1; }, kWait));
  EXPECT_NE(server->Messages()[0].find("Subject: Old subject"), std::string::npos);
  EXPECT_NE(server->Messages()[0].find("old body"), std::string::npos);
  ASSERT_TRUE(Eventually(
      [&] {
        return !Sql(pg_->ConnectionString(),
                    "SELECT dead_at FROM gateway.outbox_emails WHERE template = 'no_such_template'")
                    .empty();
      },
      kWait));
  EXPECT_EQ(Sql(pg_->ConnectionString(),
                "SELECT attempts FROM gateway.outbox_emails WHERE template = 'no_such_template'"),
            "1")
      << "an unknown template is not retried";
}

TEST_F(MailerTest, TwoMailersOnOneDatabaseNeverSendARowTwice) {
  auto server = SmtpServer::Start(pg_->dir() / "maildir");
  mail::MailerOptions options;
  options.smtp.url = server->url();
  std::vector<long long> ids;
  for (int i = 0; i < 40; ++i) {
    ids.push_back(
        Queue("user" + std::to_string(i) + "@example.com", "http://x/?token=" + std::to_string(i)));
  }
  auto a = MakeMailer(options);
  auto b = MakeMailer(options);
  a->Start();
  b->Start();
  ASSERT_TRUE(Eventually(
      [&] {
        return Sql(pg_->ConnectionString(),
                   "SELECT count(*) FROM gateway.outbox_emails WHERE sent_at IS NULL") == "0";
      },
      kWait));
  a->Stop();
  b->Stop();
  auto messages = server->Messages();
  EXPECT_EQ(messages.size(), 40u);
  std::set<std::string> seen;
  std::regex id_re("Message-ID: <crm\\.([0-9]+)\\.");
  for (const auto& m : messages) {
    std::smatch match;
    ASSERT_TRUE(std::regex_search(m, match, id_re)) << m;
    EXPECT_TRUE(seen.insert(match[1]).second) << "row " << match[1] << " was sent twice";
  }
  EXPECT_EQ(seen.size(), 40u);
  EXPECT_EQ(a->stats().sent + b->stats().sent, 40);
}

// crmd end to end, with an SMTP server.
class MailRuntimeTest : public RuntimeTest {
 protected:
  void Configure(std::map<std::string, std::string>& env) override {
    smtp_ = SmtpServer::Start(pg_->dir() / "maildir");
    env["CRM_SMTP_URL"] = smtp_->url();
    env["CRM_MAIL_FROM"] = "Acme CRM <no-reply@acme.example>";
  }
  std::unique_ptr<SmtpServer> smtp_;
};

TEST_F(MailRuntimeTest, ResetMailArrivesOverSmtpWithAWorkingLink) {
  Register("ana@example.com");
  auto asked =
      Fetch("POST", Url("/auth/forgot-password"), R"({"email":"ana@example.com"})", {kJson});
  ASSERT_EQ(asked.status, 202);
  ASSERT_TRUE(Eventually([&] { return smtp_->Messages().size() == 1; }, kWait)) << crmd_->Log();
  std::string message = smtp_->Messages()[0];
  EXPECT_NE(message.find("From: Acme CRM <no-reply@acme.example>"), std::string::npos) << message;
  EXPECT_NE(message.find("To: <ana@example.com>"), std::string::npos);
  EXPECT_NE(message.find("Subject: Reset your password"), std::string::npos);
  std::string token = TokenIn(message);
  ASSERT_FALSE(token.empty()) << message;
  EXPECT_NE(DecodeQp(message).find(Url("/reset-password?token=") + token), std::string::npos)
      << "the link is <origin>/reset-password?token=…";
  auto reset = Fetch("POST", Url("/auth/reset-password"),
                     json{{"token", token}, {"password", "a brand new password"}}.dump(), {kJson});
  EXPECT_EQ(reset.status, 200) << reset.body;
}

TEST_F(RuntimeTest, WithoutSmtpTheResetMailIsAnEmlFileInTheDataDirectory) {
  Register("ana@example.com");
  ASSERT_EQ(
      Fetch("POST", Url("/auth/forgot-password"), R"({"email":"ana@example.com"})", {kJson}).status,
      202);
  std::string id = Sql(pg_->ConnectionString(), "SELECT id FROM gateway.outbox_emails");
  fs::path eml = data_ / "mail" / (id + ".eml");
  ASSERT_TRUE(Eventually([&] { return fs::exists(eml); }, kWait)) << crmd_->Log();
  EXPECT_EQ(fs::status(eml).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write)
      << "it holds a reset link";
  std::ifstream in(eml);
  std::string message((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_FALSE(TokenIn(message).empty()) << message;
  EXPECT_TRUE(Eventually(
      [&] {
        return !Sql(pg_->ConnectionString(), "SELECT sent_at FROM gateway.outbox_emails").empty();
      },
      kWait))
      << "a written .eml counts as sent";
  EXPECT_NE(crmd_->Log().find(eml.string()), std::string::npos) << "the log names the file";
}

}  // namespace
}  // namespace crm::testing
