// The mail's wire form: headers, encoded words, quoted-printable, multipart, line lengths; the
// templates; the retry backoff.
#include "crm/mail/message.hpp"

#include <gtest/gtest.h>

#include "crm/error.hpp"
#include "crm/mail/mailer.hpp"
#include "crm/mail/templates.hpp"
#include "crm/text.hpp"

namespace crm::mail {
namespace {

using namespace std::chrono_literals;

// Undoes QuotedPrintable (soft breaks and =XX), for round trips.
std::string DecodeQp(const std::string& qp) {
  std::string out;
  for (std::size_t i = 0; i < qp.size(); ++i) {
    if (qp[i] == '=' && qp.compare(i + 1, 2, "\r\n") == 0) {
      i += 2;
    } else if (qp[i] == '=') {
      out += static_cast<char>(std::stoi(qp.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else if (qp.compare(i, 2, "\r\n") == 0) {
      out += '\n';
      ++i;
    } else {
      out += qp[i];
    }
  }
  return out;
}

std::size_t LongestLine(const std::string& text) {
  std::size_t longest = 0;
  for (const auto& line : SplitLines(text)) {
    longest = std::max(longest, line.size());
  }
  return longest;
}

Mail Sample() {
  Mail m;
  m.id = 42;
  m.from = "CRM <no-reply@crm.example.com>";
  m.to = "ana@example.com";
  m.subject = "Reset your password";
  m.text = "Hello,\n\nopen https://crm.example.com/reset-password?token=abc_DEF-123\n";
  m.html = "<p>Hello <a href=\"https://crm.example.com/\">here</a></p>\n";
  return m;
}

TEST(MailMessageTest, HeadersComeFirstWithCrlfLineEnds) {
  auto date = std::chrono::system_clock::time_point(std::chrono::seconds(1751360703));
  std::string msg = BuildMessage(Sample(), date, "<crm.42.x@crm.example.com>");
  auto head = msg.substr(0, msg.find("\r\n\r\n"));
  EXPECT_NE(head.find("Date: Tue, 01 Jul 2025 09:05:03 +0000\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("From: CRM <no-reply@crm.example.com>\r\n"), std::string::npos);
  EXPECT_NE(head.find("To: <ana@example.com>\r\n"), std::string::npos);
  EXPECT_NE(head.find("Subject: Reset your password\r\n"), std::string::npos);
  EXPECT_NE(head.find("Message-ID: <crm.42.x@crm.example.com>\r\n"), std::string::npos);
  EXPECT_NE(head.find("MIME-Version: 1.0\r\n"), std::string::npos);
  for (std::size_t i = 0; i < msg.size(); ++i) {
    if (msg[i] == '\n') {
      ASSERT_GT(i, 0u);
      ASSERT_EQ(msg[i - 1], '\r') << "bare LF at " << i;
    }
  }
}

TEST(MailMessageTest, TextAndHtmlAreAlternativesInOneMultipart) {
  std::string msg = BuildMessage(Sample(), std::chrono::system_clock::now(), "<a@b>");
  auto at = msg.find("boundary=\"");
  ASSERT_NE(at, std::string::npos) << msg;
  std::string boundary = msg.substr(at + 10, msg.find('"', at + 10) - at - 10);
  EXPECT_NE(msg.find("Content-Type: multipart/alternative;"), std::string::npos);
  auto text = msg.find("\r\n--" + boundary + "\r\nContent-Type: text/plain; charset=utf-8\r\n");
  auto html = msg.find("\r\n--" + boundary + "\r\nContent-Type: text/html; charset=utf-8\r\n");
  auto end = msg.find("\r\n--" + boundary + "--\r\n");
  ASSERT_NE(text, std::string::npos) << msg;
  ASSERT_NE(html, std::string::npos) << msg;
  ASSERT_NE(end, std::string::npos) << msg;
  EXPECT_LT(text, html);
  EXPECT_LT(html, end);
  EXPECT_NE(msg.find("token=3Dabc_DEF-123"), std::string::npos) << "'=' is quoted-printable";
}

TEST(MailMessageTest, TextOnlyMailIsOnePart) {
  Mail m = Sample();
  m.html.clear();
  std::string msg = BuildMessage(m, std::chrono::system_clock::now(), "<a@b>");
  EXPECT_EQ(msg.find("multipart"), std::string::npos);
  EXPECT_NE(msg.find("Content-Type: text/plain; charset=utf-8\r\n"
                     "Content-Transfer-Encoding: quoted-printable\r\n\r\nHello,\r\n"),
            std::string::npos)
      << msg;
}

TEST(MailMessageTest, NonAsciiSubjectBecomesEncodedWords) {
  EXPECT_EQ(EncodeHeaderText("Réinitialiser"), "=?UTF-8?B?UsOpaW5pdGlhbGlzZXI=?=");
  std::string long_subject;
  for (int i = 0; i < 40; ++i) {
    long_subject += "Mot de passe oublié ";
  }
  std::string encoded = EncodeHeaderText(long_subject);
  for (const auto& line : SplitLines(encoded)) {
    std::string word = line.back() == '\r' ? line.substr(0, line.size() - 1) : line;
    if (word.front() == ' ') {
      word.erase(0, 1);
    }
    EXPECT_LE(word.size(), 75u) << word;
    EXPECT_EQ(word.rfind("=?UTF-8?B?", 0), 0u) << word;
  }
}

TEST(MailMessageTest, EncodedWordsNeverSplitACharacter) {
  std::string euros;
  for (int i = 0; i < 40; ++i) {
    euros += "€";  // 3 bytes each: 45-byte chunks must not cut one
  }
  std::string encoded = EncodeHeaderText(euros);
  // Each word decodes to whole characters: 15 euros (45 bytes) → "4oKs" × 15 exactly.
  std::string first = encoded.substr(0, encoded.find("?=") + 2);
  EXPECT_EQ(
      first, "=?UTF-8?B?" + [] {
        std::string s;
        for (int i = 0; i < 15; ++i) {
          s += "4oKs";
        }
        return s;
      }() + "?=");
}

TEST(MailMessageTest, HeaderLineBreaksCannotInjectHeaders) {
  Mail m = Sample();
  m.subject = "Hi\r\nBcc: victim@example.com";
  std::string msg = BuildMessage(m, std::chrono::system_clock::now(), "<a@b>");
  EXPECT_EQ(msg.find("\r\nBcc:"), std::string::npos) << msg;
  m.to = "ana@example.com\r\nBcc: x@y";
  EXPECT_THROW(BuildMessage(m, std::chrono::system_clock::now(), "<a@b>"), InputError);
}

TEST(MailMessageTest, QuotedPrintableKeepsLinesShortAndRoundTrips) {
  std::string text = std::string(300, 'a') + " ünïcödé = " + std::string(200, 'b') + " \n" +
                     ".leading dot\n\tindented\n";
  std::string qp = QuotedPrintable(text);
  for (const auto& line : SplitLines(qp)) {
    EXPECT_LE(line.size(), 77u) << line;  // 76 + the '\r' SplitLines leaves
  }
  EXPECT_EQ(DecodeQp(qp), text);
  EXPECT_NE(qp.find("=20\r\n"), std::string::npos) << "a trailing blank is encoded";
  EXPECT_NE(qp.find("\r\n=2Eleading"), std::string::npos) << "a leading dot is encoded";
}

TEST(MailMessageTest, NoLineOfAWholeMessageExceeds998Octets) {
  Mail m = Sample();
  m.subject = std::string(2000, 'x');
  m.text = std::string(5000, 'y');
  m.html = std::string(5000, 'z');
  std::string msg = BuildMessage(m, std::chrono::system_clock::now(), "<a@b>");
  EXPECT_LE(LongestLine(msg), 998u);
}

TEST(MailMessageTest, FromDisplayNamesAreQuotedOrEncoded) {
  Mail m = Sample();
  m.from = "Acme, Inc. <a@b.example>";
  EXPECT_NE(BuildMessage(m, {}, "<x>").find("From: \"Acme, Inc.\" <a@b.example>\r\n"),
            std::string::npos);
  m.from = "Société <a@b.example>";
  EXPECT_NE(BuildMessage(m, {}, "<x>").find("From: =?UTF-8?B?U29jacOpdMOp?= <a@b.example>"),
            std::string::npos);
  m.from = "a@b.example";
  EXPECT_NE(BuildMessage(m, {}, "<x>").find("From: <a@b.example>\r\n"), std::string::npos);
  EXPECT_THROW(AddressOf("CRM <nobody>"), InputError);
  EXPECT_THROW(AddressOf("CRM <a@b"), InputError);
}

TEST(MailMessageTest, MessageIdsAreUniqueAndUseTheSendersDomain) {
  Mail m = Sample();
  std::string a = NewMessageId(m);
  EXPECT_EQ(a.rfind("<crm.42.", 0), 0u) << a;
  EXPECT_EQ(a.substr(a.size() - 17), "@crm.example.com>") << a;
  EXPECT_NE(a, NewMessageId(m));
}

TEST(MailTemplatesTest, PasswordResetCarriesTheLinkInBothBodies) {
  std::string link = "http://127.0.0.1:8080/reset-password?token=a&b";
  MailContent c = RenderMail("password_reset", {{"link", link}, {"expires_in", "1 hour"}});
  EXPECT_EQ(c.subject, "Reset your password");
  EXPECT_NE(c.text.find(link), std::string::npos) << "the text body is not escaped: " << c.text;
  EXPECT_NE(c.text.find("within 1 hour"), std::string::npos) << c.text;
  EXPECT_NE(c.html.find("token=a&amp;b"), std::string::npos) << "the HTML is: " << c.html;
}

TEST(MailTemplatesTest, UnknownTemplateIsAnInputError) {
  try {
    RenderMail("no_such_mail", nlohmann::json::object());
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "template");
    EXPECT_NE(std::string(e.what()).find("no_such_mail"), std::string::npos);
  }
}

TEST(MailRetryDelayTest, DoublesFromTheBaseWithJitterUpToTheCap) {
  MailerOptions o;  // 30 s base, 1 h cap
  EXPECT_EQ(MailRetryDelay(1, o, 0.0), 15s);
  EXPECT_EQ(MailRetryDelay(1, o, 0.999999), std::chrono::milliseconds(29'999));
  EXPECT_EQ(MailRetryDelay(2, o, 0.0), 30s);
  EXPECT_EQ(MailRetryDelay(7, o, 1.0), 32min);
  EXPECT_EQ(MailRetryDelay(8, o, 1.0), 60min);
  EXPECT_EQ(MailRetryDelay(30, o, 1.0), 60min) << "capped";
  EXPECT_EQ(MailRetryDelay(30, o, 0.0), 30min) << "jitter halves at most";
}

TEST(MailTransportTest, SmtpUrlMustBeSmtpOrSmtps) {
  auto make = [](const std::string& url) {
    SmtpOptions o;
    o.url = url;
    return MakeSmtpTransport(o);
  };
  EXPECT_THROW(make("http://mail.example.com"), InputError);
  EXPECT_THROW(make("smtp://"), InputError);
  EXPECT_NO_THROW(make("smtp://127.0.0.1:2525"));
  EXPECT_NO_THROW(make("smtps://mail.example.com:465"));
}

}  // namespace
}  // namespace crm::mail
