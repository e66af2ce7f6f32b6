#include "crm/mail/message.hpp"

#include <ctime>
#include <functional>
#include <random>

#include "crm/error.hpp"
#include "crm/text.hpp"

namespace crm::mail {
namespace {

constexpr std::size_t kQpLine = 76;        // RFC 2045 §6.7
constexpr std::size_t kPlainHeader = 900;  // keeps "Subject: …" well under 998 octets
constexpr std::size_t kWordBytes = 45;  // 45 bytes → 60 base64 characters → 72 with =?UTF-8?B?…?=

bool PlainAscii(std::string_view text) {
  for (unsigned char c : text) {
    if (c < 0x20 || c > 0x7e) {
      return false;
    }
  }
  return true;
}

std::string Base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    unsigned v = static_cast<unsigned>(static_cast<unsigned char>(bytes[i])) << 16 |
                 static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 1])) << 8 |
                 static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += kAlphabet[v >> 6 & 63];
    out += kAlphabet[v & 63];
  }
  if (i < bytes.size()) {
    unsigned v = static_cast<unsigned>(static_cast<unsigned char>(bytes[i])) << 16;
    if (i + 1 < bytes.size()) {
      v |= static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    }
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += i + 1 < bytes.size() ? kAlphabet[v >> 6 & 63] : '=';
    out += '=';
  }
  return out;
}

// Where a chunk of at most `max` bytes starting at `from` may end without splitting a UTF-8
// sequence (an encoded word must hold whole characters, RFC 2047 §5).
std::size_t ChunkEnd(std::string_view text, std::size_t from, std::size_t max) {
  std::size_t end = std::min(text.size(), from + max);
  while (end < text.size() && end > from + 1 &&
         (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
    --end;
  }
  return end;
}

std::string Hex(unsigned char c) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  return {'=', kDigits[c >> 4], kDigits[c & 15]};
}

// A display name: as is when it is plain atoms, quoted when it holds specials, encoded words
// when it is not ASCII.
std::string DisplayName(std::string_view name) {
  if (!PlainAscii(name)) {
    return EncodeHeaderText(name);
  }
  if (name.find_first_of("()<>[]:;@\\,.\"") == std::string_view::npos) {
    return std::string(name);
  }
  std::string quoted = "\"";
  for (char c : name) {
    if (c == '"' || c == '\\') {
      quoted += '\\';
    }
    quoted += c;
  }
  return quoted + "\"";
}

// The From header's value: the display name encoded as needed, then <address>.
std::string FromHeader(std::string_view mailbox) {
  std::string address = AddressOf(mailbox);
  auto open = mailbox.find('<');
  std::string_view name = open == std::string_view::npos ? "" : TrimBlanks(mailbox.substr(0, open));
  if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
    name = name.substr(1, name.size() - 2);
  }
  return name.empty() ? "<" + address + ">" : DisplayName(name) + " <" + address + ">";
}

std::string Part(const char* type, const std::string& body) {
  return std::string("Content-Type: ") + type +
         "; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
         QuotedPrintable(body) + "\r\n";
}

}  // namespace

std::string AddressOf(std::string_view mailbox, const std::string& field) {
  std::string_view address = TrimBlanks(mailbox);
  auto open = address.rfind('<');
  if (open != std::string_view::npos) {
    auto close = address.find('>', open);
    if (close == std::string_view::npos || close + 1 != address.size()) {
      throw InputError(field + ": expected \"Name <address>\" or an address, got \"" +
                           std::string(mailbox) + "\"",
                       field);
    }
    address = TrimBlanks(address.substr(open + 1, close - open - 1));
  }
  auto at = address.find('@');
  if (address.empty() || at == std::string_view::npos || at == 0 || at + 1 == address.size() ||
      address.find_first_of(" \t\r\n<>,;") != std::string_view::npos || !PlainAscii(address)) {
    throw InputError(field + ": expected an e-mail address, got \"" + std::string(mailbox) + "\"",
                     field);
  }
  return std::string(address);
}

std::string EncodeHeaderText(std::string_view text) {
  std::string clean(text);
  for (char& c : clean) {
    if (c == '\r' || c == '\n') {
      c = ' ';
    }
  }
  if (PlainAscii(clean) && clean.size() <= kPlainHeader) {
    return clean;
  }
  std::string out;
  for (std::size_t at = 0; at < clean.size();) {
    std::size_t end = ChunkEnd(clean, at, kWordBytes);
    if (!out.empty()) {
      out += "\r\n ";  // folded: each encoded word on its own line
    }
    out += "=?UTF-8?B?" + Base64(std::string_view(clean).substr(at, end - at)) + "?=";
    at = end;
  }
  return out;
}

std::string QuotedPrintable(std::string_view text) {
  std::string out;
  std::size_t line_start = 0;
  while (line_start <= text.size()) {
    std::size_t nl = text.find('\n', line_start);
    std::string_view line = text.substr(
        line_start, nl == std::string_view::npos ? std::string_view::npos : nl - line_start);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    std::string encoded_line;
    std::size_t width = 0;
    for (std::size_t i = 0; i < line.size(); ++i) {
      auto c = static_cast<unsigned char>(line[i]);
      bool last = i + 1 == line.size();
      std::string piece;
      if ((c == ' ' || c == '\t') && last) {
        piece = Hex(c);  // trailing blanks are stripped in transit (RFC 2045 §6.7 rule 3)
      } else if (c == '.' && width == 0) {
        piece = Hex(c);  // a lone "." line would end the SMTP DATA
      } else if (c == ' ' || c == '\t' || (c >= 33 && c <= 126 && c != '=')) {
        piece = std::string(1, static_cast<char>(c));
      } else {
        piece = Hex(c);
      }
      // Room is kept for the soft break's "=" unless this is the line's last piece.
      std::size_t limit = last ? kQpLine : kQpLine - 1;
      if (width + piece.size() > limit) {
        encoded_line += "=\r\n";
        width = 0;
        if (piece == ".") {
          piece = Hex('.');
        }
      }
      encoded_line += piece;
      width += piece.size();
    }
    out += encoded_line;
    if (nl == std::string_view::npos) {
      break;
    }
    out += "\r\n";
    line_start = nl + 1;
  }
  return out;
}

std::string RfcDate(std::chrono::system_clock::time_point t) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t seconds = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buffer;
}

std::string NewMessageId(const Mail& mail) {
  std::string address = AddressOf(mail.from);
  thread_local std::mt19937_64 random{std::random_device{}()};
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(random()));
  return "<crm." + std::to_string(mail.id) + "." + hex + address.substr(address.find('@')) + ">";
}

std::string BuildMessage(const Mail& mail, std::chrono::system_clock::time_point date,
                         const std::string& message_id) {
  std::string to = AddressOf(mail.to, "to");
  std::string headers = "Date: " + RfcDate(date) + "\r\nFrom: " + FromHeader(mail.from) +
                        "\r\nTo: <" + to + ">\r\nSubject: " + EncodeHeaderText(mail.subject) +
                        "\r\nMessage-ID: " + message_id + "\r\nMIME-Version: 1.0\r\n";
  if (mail.html.empty()) {
    return headers + Part("text/plain", mail.text);
  }
  // "=_" never occurs in quoted-printable output ('=' is always followed by hex or a line end).
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016zx", std::hash<std::string>{}(message_id));
  std::string boundary = std::string("=_crm_") + hash;
  return headers + "Content-Type: multipart/alternative; boundary=\"" + boundary +
         "\"\r\n\r\nThis is a multi-part message in MIME format.\r\n\r\n--" + boundary + "\r\n" +
         Part("text/plain", mail.text) + "--" + boundary + "\r\n" + Part("text/html", mail.html) +
         "--" + boundary + "--\r\n";
}

}  // namespace crm::mail
