// The characters of an HTTP/1.1 head (RFC 9110, 5.5 and 5.6.2), shared by the request and
// response head scans.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "crm/text.hpp"

namespace crm::http::head_chars {

// tchar: the characters of a method, a field name and a token.
inline constexpr std::array<bool, 256> kTchar = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) {
    t[static_cast<std::size_t>(c)] = true;
  }
  for (int c = 'a'; c <= 'z'; ++c) {
    t[static_cast<std::size_t>(c)] = true;
    t[static_cast<std::size_t>(c - 'a' + 'A')] = true;
  }
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) {
    t[static_cast<unsigned char>(c)] = true;
  }
  return t;
}();

inline bool IsTchar(char c) {
  return kTchar[static_cast<unsigned char>(c)];
}

// field-vchar, SP and HTAB: what a field value and a reason phrase may hold. No control character
// (CR, LF and NUL among them) and no DEL.
constexpr bool IsValueChar(unsigned char c) {
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

constexpr char Lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

inline bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) {
      return false;
    }
  }
  return true;
}

// `name` (tchar only, as a scanned field name) equals `lower` (lowercase letters, digits and '-')
// ignoring case, eight bytes at a time: for those characters setting bit 0x20 lowers a letter and
// changes nothing else that could match.
inline bool NameIs(std::string_view name, std::string_view lower) {
  if (name.size() != lower.size()) {
    return false;
  }
  std::size_t i = 0;
  for (; i + 8 <= name.size(); i += 8) {
    std::uint64_t a = 0;
    std::uint64_t b = 0;
    std::memcpy(&a, name.data() + i, 8);
    std::memcpy(&b, lower.data() + i, 8);
    if ((a | 0x2020202020202020ull) != b) {
      return false;
    }
  }
  for (; i < name.size(); ++i) {
    if (static_cast<char>(name[i] | 0x20) != lower[i]) {
      return false;
    }
  }
  return true;
}

// Every byte of `v` may stand in a field value (IsValueChar), eight bytes at a time: a word with
// no byte under 0x20 and none equal to 0x7f needs no look at its bytes (bytes from 0x80 up are
// obs-text, allowed); a word with one (HTAB, or a byte refused) is looked at byte by byte.
inline bool AllValueChars(std::string_view v) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ull;
  constexpr std::uint64_t kHigh = 0x8080808080808080ull;
  std::size_t i = 0;
  for (; i + 8 <= v.size(); i += 8) {
    std::uint64_t w = 0;
    std::memcpy(&w, v.data() + i, 8);
    const std::uint64_t under_space = (w - kOnes * 0x20) & ~w & kHigh;
    const std::uint64_t del = w ^ (kOnes * 0x7f);
    const std::uint64_t is_del = (del - kOnes) & ~del & kHigh;
    if ((under_space | is_del) != 0) {
      for (std::size_t j = i; j < i + 8; ++j) {
        if (!IsValueChar(static_cast<unsigned char>(v[j]))) {
          return false;
        }
      }
    }
  }
  for (; i < v.size(); ++i) {
    if (!IsValueChar(static_cast<unsigned char>(v[i]))) {
      return false;
    }
  }
  return true;
}

// A Connection value: a list of tokens (empty elements allowed, as Beast's opt_token_list).
// Notes close and keep-alive; false when an element is not a token (Beast refuses the head).
inline bool ScanConnection(std::string_view value, bool& close, bool& keep_alive) {
  while (true) {
    std::size_t comma = value.find(',');
    std::string_view element = TrimBlanks(value.substr(0, comma));
    for (char c : element) {
      if (!IsTchar(c)) {
        return false;
      }
    }
    close = close || IEquals(element, "close");
    keep_alive = keep_alive || IEquals(element, "keep-alive");
    if (comma == std::string_view::npos) {
      return true;
    }
    value.remove_prefix(comma + 1);
  }
}

// The field lines of a head from `at` on, up to and with the blank line. Calls
// on_field(name, value) (value without its surrounding OWS) for each; false at the first line
// that is not "name: value" with valid characters and CRLF (obs-fold, bare CR or LF, no name,
// a space before the colon) or from on_field. `end` receives the offset after the blank line;
// `complete` false when the input ends first (nothing wrong so far).
template <class OnField>
bool ScanFields(std::string_view in, std::size_t at, std::size_t& end, bool& complete,
                OnField&& on_field) {
  complete = false;
  for (;;) {
    std::size_t lf = in.find('\n', at);
    if (lf == std::string_view::npos) {
      return true;
    }
    std::string_view line = in.substr(at, lf - at);
    at = lf + 1;
    if (line.empty() || line.back() != '\r') {
      return false;  // a bare LF
    }
    line.remove_suffix(1);
    if (line.empty()) {
      end = at;
      complete = true;
      return true;
    }
    std::size_t colon = 0;
    while (colon < line.size() && IsTchar(line[colon])) {
      ++colon;
    }
    if (colon == 0 || colon == line.size() || line[colon] != ':') {
      return false;
    }
    if (!AllValueChars(line.substr(colon + 1))) {
      return false;
    }
    if (!on_field(line.substr(0, colon), TrimBlanks(line.substr(colon + 1)))) {
      return false;
    }
  }
}

}  // namespace crm::http::head_chars
