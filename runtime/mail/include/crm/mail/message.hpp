// One e-mail as the mailer sends it: what it says (Mail) and its RFC 5322 / MIME form
// (multipart/alternative text + HTML, quoted-printable bodies, encoded-word headers, CRLF).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace crm::mail {

struct Mail {
  long long id = 0;     ///< the outbox row; part of the Message-ID and the .eml file's name
  std::string from;     ///< a mailbox: "CRM <no-reply@example.com>" or a bare address
  std::string to;       ///< a bare address
  std::string subject;  ///< UTF-8, one line
  std::string text;     ///< UTF-8 plain-text body
  std::string html;     ///< UTF-8 HTML body; empty: the message is text only
};

/// The address of a mailbox: "CRM <a@b.example>" → "a@b.example"; a bare address as is.
/// Throws InputError naming `field` when there is no address or it holds a line break.
std::string AddressOf(std::string_view mailbox, const std::string& field = "from");

/// A header value: printable ASCII up to 900 characters as is; anything else as RFC 2047 UTF-8
/// base64 encoded words of at most 75 characters, folded onto continuation lines. Line breaks in
/// `text` become spaces (no header injection).
std::string EncodeHeaderText(std::string_view text);

/// RFC 2045 quoted-printable of UTF-8 `text` ("\n" or "\r\n" line ends): lines of at most 76
/// characters joined by CRLF, soft breaks ("=") inside long lines; '=', bytes above 126, trailing
/// blanks and a leading '.' encoded.
std::string QuotedPrintable(std::string_view text);

/// "Tue, 01 Jul 2025 09:05:03 +0000" (RFC 5322, UTC, English names whatever the locale).
std::string RfcDate(std::chrono::system_clock::time_point t);

/// A new Message-ID "<crm.ID.RANDOM@DOMAIN>" with the domain of the From address.
std::string NewMessageId(const Mail& mail);

/// The whole message, headers and body, CRLF line ends, no line longer than 998 octets. The
/// MIME boundary is derived from `message_id`, and cannot occur in quoted-printable text.
/// Throws InputError when an address is malformed.
std::string BuildMessage(const Mail& mail, std::chrono::system_clock::time_point date,
                         const std::string& message_id);

}  // namespace crm::mail
